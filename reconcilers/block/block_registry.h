// Who uses which shared block resource (an iSCSI session, a device, a filesystem mount), with a
// lock per resource held across the decision and the kernel work: a login and the logout decision
// of one target never interleave (the race kubelet had, k8s#74313).
//
// Durability: the users are the journal rows that name them. A step registers its user in
// apply() after its intent row is written and unregisters in undo() before the row is removed;
// after a crash boxd seeds the registry from the journal (rows still "intent" count: maybe
// applied) before any step runs. So the count survives kill -9 without a second table that
// could disagree with the journal.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::reconcilers {

struct BlockUser {
  std::string id;  // "<pod uid>/<volume>"
  bool readOnly = false;
  bool operator<(const BlockUser& o) const { return id < o.id; }
};

class BlockRegistry {
 public:
  // Runs fn with the resource's lock held. fn sees the users other than `self` and decides:
  // first user → set up, else join. Registers self when fn succeeds.
  using AcquireFn = std::function<Status(const std::vector<BlockUser>& others)>;
  Status acquire(const std::string& key, const BlockUser& self, const AcquireFn& setUp);
  // Unregisters self; runs tearDown with the lock held when no user is left. Self stays
  // registered when tearDown fails, so a retry of the undo finds the same state.
  Status release(const std::string& key, const std::string& selfId,
                 const std::function<Status()>& tearDown);
  // Seeding from the journal at start, and describe / `boxctl volume ls`.
  void add(const std::string& key, const BlockUser& user);
  std::vector<BlockUser> users(const std::string& key);
  std::map<std::string, std::vector<BlockUser>> all();

 private:
  struct Entry {
    std::mutex lock;  // held across the kernel work of one key
    std::set<BlockUser> users;
  };
  std::shared_ptr<Entry> entry(const std::string& key);

  std::mutex mu_;  // guards entries_ (never held across kernel work)
  std::map<std::string, std::shared_ptr<Entry>> entries_;
};

}  // namespace boxd::reconcilers
