// A Store that survives a full state disk: every write that fails with ENOSPC gives up the
// SpaceReserve and is tried once more, so the journal of a teardown (and the pod's deletion)
// can still be written when a container or anything else filled the filesystem. Reads pass
// through. The reserve is taken back after a later successful write, at most every 10 s.
//
// Inside a transaction nothing is retried (the outermost transaction is, as a whole: SQLite
// rolls a transaction back on SQLITE_FULL). note() is told each release and retake, for the
// agent to log.
#pragma once

#include <functional>
#include <memory>

#include "state/space_reserve.h"
#include "state/store.h"

namespace boxd::state {

class ReserveStore : public Store {
 public:
  ReserveStore(std::unique_ptr<Store> inner, SpaceReserve reserve,
               std::function<void(const std::string&)> note);

  SpaceReserve& reserve() { return reserve_; }

  int schemaVersion() override { return inner_->schemaVersion(); }
  Status transaction(const std::function<Status()>& fn) override;
  Result<std::optional<std::string>> getMeta(const std::string& key) override {
    return inner_->getMeta(key);
  }
  Status setMeta(const std::string& key, const std::string& value) override;
  Result<std::vector<PodRecord>> listPods() override { return inner_->listPods(); }
  Result<std::optional<PodRecord>> getPod(const std::string& name) override {
    return inner_->getPod(name);
  }
  Status upsertPod(const PodRecord& pod) override;
  Status deletePod(const std::string& name) override;
  Result<int64_t> journalIntent(const JournalRow& row) override;
  Status journalDone(int64_t id, const nlohmann::json& params) override;
  Status journalRemove(int64_t id) override;
  Result<std::vector<JournalRow>> journal(const std::string& pod) override {
    return inner_->journal(pod);
  }
  Result<std::vector<JournalRow>> journalAll() override { return inner_->journalAll(); }
  Result<std::vector<ContainerRecord>> containers(const std::string& pod) override {
    return inner_->containers(pod);
  }
  Status upsertContainer(const ContainerRecord& c) override;
  Status deleteContainers(const std::string& pod) override;
  Result<int64_t> appendEvent(const EventRecord& e) override;
  Result<std::vector<EventRecord>> events(const std::string& pod, int limit) override {
    return inner_->events(pod, limit);
  }
  Status pruneEvents(int64_t nowMs) override;
  Status setEventRetention(const EventRetention& r) override {
    return inner_->setEventRetention(r);
  }
  Result<std::vector<ImageRecord>> listImages() override { return inner_->listImages(); }
  Result<std::optional<ImageRecord>> getImage(const std::string& name,
                                              const std::string& tag) override {
    return inner_->getImage(name, tag);
  }
  Status upsertImage(const ImageRecord& img) override;
  Status deleteImage(const std::string& name, const std::string& tag) override;
  Result<std::vector<AddressRecord>> listAddresses() override { return inner_->listAddresses(); }
  Status insertAddress(const AddressRecord& a) override;
  Status releaseAddress(const std::string& podUid) override;

 private:
  template <typename R>
  R write(const std::function<R()>& op);
  // Whether err is the filesystem being full (ENOSPC, or SQLite's SQLITE_FULL).
  static bool isFull(const Error& err);
  void retake();

  std::unique_ptr<Store> inner_;
  SpaceReserve reserve_;
  std::function<void(const std::string&)> note_;
  int depth_ = 0;  // transactions open
  int64_t lastTryUs_ = 0;
};

}  // namespace boxd::state
