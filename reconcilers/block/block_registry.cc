#include "reconcilers/block/block_registry.h"

namespace boxd::reconcilers {

std::shared_ptr<BlockRegistry::Entry> BlockRegistry::entry(const std::string& key) {
  std::lock_guard g(mu_);
  auto& e = entries_[key];
  if (!e) e = std::make_shared<Entry>();
  return e;
}

Status BlockRegistry::acquire(const std::string& key, const BlockUser& self,
                              const AcquireFn& setUp) {
  auto e = entry(key);
  std::lock_guard g(e->lock);
  std::vector<BlockUser> others;
  {
    std::lock_guard m(mu_);
    for (const auto& u : e->users) {
      if (u.id != self.id) others.push_back(u);
    }
  }
  BOXD_TRY(setUp(others));
  std::lock_guard m(mu_);
  e->users.erase(self);
  e->users.insert(self);
  return {};
}

Status BlockRegistry::release(const std::string& key, const std::string& selfId,
                              const std::function<Status()>& tearDown) {
  auto e = entry(key);
  std::lock_guard g(e->lock);
  bool last;
  {
    std::lock_guard m(mu_);
    size_t others = 0;
    for (const auto& u : e->users) others += u.id != selfId ? 1 : 0;
    last = others == 0;
  }
  if (last) BOXD_TRY(tearDown());
  std::lock_guard m(mu_);
  e->users.erase(BlockUser{selfId, false});
  return {};
}

void BlockRegistry::add(const std::string& key, const BlockUser& user) {
  auto e = entry(key);
  std::lock_guard m(mu_);
  e->users.insert(user);
}

std::vector<BlockUser> BlockRegistry::users(const std::string& key) {
  std::lock_guard m(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return {};
  return {it->second->users.begin(), it->second->users.end()};
}

std::map<std::string, std::vector<BlockUser>> BlockRegistry::all() {
  std::lock_guard m(mu_);
  std::map<std::string, std::vector<BlockUser>> out;
  for (const auto& [k, e] : entries_) {
    if (!e->users.empty()) out[k] = {e->users.begin(), e->users.end()};
  }
  return out;
}

}  // namespace boxd::reconcilers
