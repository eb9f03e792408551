#include "state/reserve_store.h"

#include <cerrno>

#include "common/util.h"

namespace boxd::state {

namespace {
constexpr int64_t kRetakeEveryUs = 10 * 1000 * 1000;

template <typename R>
const Error* errorOf(const R& r) {
  return r.ok() ? nullptr : &r.error();
}
}  // namespace

ReserveStore::ReserveStore(std::unique_ptr<Store> inner, SpaceReserve reserve,
                           std::function<void(const std::string&)> note)
    : inner_(std::move(inner)), reserve_(std::move(reserve)), note_(std::move(note)) {}

bool ReserveStore::isFull(const Error& err) {
  return err.code == ENOSPC || err.message.find("database or disk is full") != std::string::npos;
}

void ReserveStore::retake() {
  if (reserve_.held() || reserve_.bytes() <= 0) return;
  const int64_t now = monotonicUs();
  if (lastTryUs_ != 0 && now - lastTryUs_ < kRetakeEveryUs) return;
  lastTryUs_ = now;
  if (reserve_.ensure().ok())
    note_("state dir has room again; took back its reserve of " + std::to_string(reserve_.bytes()) +
          " bytes (" + reserve_.path() + ")");
}

template <typename R>
R ReserveStore::write(const std::function<R()>& op) {
  const bool outermost = depth_ == 0;
  const bool heldBefore = reserve_.held();
  R r = op();
  const Error* err = errorOf(r);
  if (err == nullptr) {
    if (outermost) retake();
    return r;
  }
  if (!isFull(*err)) return r;
  const bool freed = reserve_.release();
  if (freed) {
    lastTryUs_ = monotonicUs();
    note_("state dir is full (" + err->message + "); released its reserve of " +
          std::to_string(reserve_.bytes()) + " bytes (" + reserve_.path() + ")");
  }
  // Retried once, whole, by the outermost call: also when a write inside it freed the reserve.
  if (!outermost || !(freed || (heldBefore && !reserve_.held()))) return r;
  return op();
}

Status ReserveStore::transaction(const std::function<Status()>& fn) {
  return write<Status>([&] {
    ++depth_;
    Status st = inner_->transaction(fn);
    --depth_;
    return st;
  });
}

Status ReserveStore::setMeta(const std::string& key, const std::string& value) {
  return write<Status>([&] { return inner_->setMeta(key, value); });
}
Status ReserveStore::upsertPod(const PodRecord& pod) {
  return write<Status>([&] { return inner_->upsertPod(pod); });
}
Status ReserveStore::deletePod(const std::string& name) {
  return write<Status>([&] { return inner_->deletePod(name); });
}
Result<int64_t> ReserveStore::journalIntent(const JournalRow& row) {
  return write<Result<int64_t>>([&] { return inner_->journalIntent(row); });
}
Status ReserveStore::journalDone(int64_t id, const nlohmann::json& params) {
  return write<Status>([&] { return inner_->journalDone(id, params); });
}
Status ReserveStore::journalRemove(int64_t id) {
  return write<Status>([&] { return inner_->journalRemove(id); });
}
Status ReserveStore::upsertContainer(const ContainerRecord& c) {
  return write<Status>([&] { return inner_->upsertContainer(c); });
}
Status ReserveStore::deleteContainers(const std::string& pod) {
  return write<Status>([&] { return inner_->deleteContainers(pod); });
}
Result<int64_t> ReserveStore::appendEvent(const EventRecord& e) {
  return write<Result<int64_t>>([&] { return inner_->appendEvent(e); });
}
Status ReserveStore::pruneEvents(int64_t nowMs) {
  return write<Status>([&] { return inner_->pruneEvents(nowMs); });
}
Status ReserveStore::upsertImage(const ImageRecord& img) {
  return write<Status>([&] { return inner_->upsertImage(img); });
}
Status ReserveStore::deleteImage(const std::string& name, const std::string& tag) {
  return write<Status>([&] { return inner_->deleteImage(name, tag); });
}
Status ReserveStore::insertAddress(const AddressRecord& a) {
  return write<Status>([&] { return inner_->insertAddress(a); });
}
Status ReserveStore::releaseAddress(const std::string& podUid) {
  return write<Status>([&] { return inner_->releaseAddress(podUid); });
}

}  // namespace boxd::state
