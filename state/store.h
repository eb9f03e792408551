// boxd's state store: one SQLite database (WAL) under the state dir. The agent is the single
// writer (all calls from the event-loop thread); boxctl never opens it for writing.
//
// Tables: meta (schema version, boot id), pods, journal (every host mutation, intent before the
// syscall, done after), containers, events, images, addresses (IPAM). The schema is versioned with
// forward migrations; a newer or corrupt database is refused at open with a clear error.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace boxd::state {

struct PodRecord {
  std::string name;  // primary key
  std::string uid;   // random per incarnation; a replaced pod gets a new uid
  std::string specHash;
  std::string specJson;    // canonical JSON (specs::toJson), so a pod can be torn down or kept
                           // running without its file
  std::string sourceFile;  // path relative to the specs dir
  std::string phase;       // Pending, Running, Succeeded, Failed, Terminating
  std::string reason;      // ImageNotFound, CreateFailed, ...
  std::string message;
  int64_t createdAtMs = 0;
  int64_t updatedAtMs = 0;
};

enum class StepState { Intent, Done };

// One host mutation. params hold everything undo needs without the spec (paths, pids, ...).
struct JournalRow {
  int64_t id = 0;
  std::string pod;
  std::string podUid;
  int seq = 0;           // order within the pod's create plan; undo runs in reverse seq
  std::string kind;      // "poddir", "cgroup", "rootfs", "shim", ...
  std::string resource;  // human-readable: the path or object created
  nlohmann::json params;
  StepState state = StepState::Intent;
  int64_t updatedAtMs = 0;
};

struct ContainerRecord {
  std::string pod;
  std::string name;
  std::string state;   // Waiting, Running, Terminated
  std::string reason;  // ContainerCreating, CrashLoopBackOff, Completed, Error, ...
  std::string message;
  int exitCode = 0;
  int restarts = 0;
  int pid = 0;
  int64_t startedAtMs = 0;
  int64_t finishedAtMs = 0;
};

struct EventRecord {
  int64_t id = 0;
  int64_t timeMs = 0;
  std::string pod;     // empty for agent-wide events
  std::string type;    // Normal, Warning
  std::string reason;  // Created, Started, BackOff, StepFailed, ...
  std::string message;
};

struct ImageRecord {
  std::string name;  // "busybox"
  std::string tag;   // "latest"
  std::string id;    // content id (sha256 hex); the rootfs lives at images/<id>/rootfs
  int64_t sizeBytes = 0;
  int64_t createdAtMs = 0;
};

// A pod's address on the boxd bridge, held from its network set-up to its teardown.
struct AddressRecord {
  std::string address;  // "10.88.0.5"
  std::string podUid;
  std::string pod;
  int64_t allocatedAtMs = 0;
};

// How many events are kept (docs/security.md: a churn of pods must not grow the database).
struct EventRetention {
  int perPod = 100;  // the newest of each pod (agent-wide events count as one pod)
  int64_t deletedPodMs = int64_t{3600} * 1000;  // a deleted pod's events, this long after
  int maxRows = 10000;                          // in all; the oldest go first
};

enum class OpenMode { ReadWrite, ReadOnly };

class Store {
 public:
  static constexpr int kSchemaVersion = 3;

  // Opens (creating and migrating in ReadWrite mode) the database at path. Fails with a clear
  // message for a corrupt file, a schema newer than kSchemaVersion, or a locked database.
  // The writer holds an exclusive flock on "<path>.lock" (holding its pid) while open.
  static Result<std::unique_ptr<Store>> open(const std::string& path,
                                             OpenMode mode = OpenMode::ReadWrite);
  virtual ~Store() = default;

  virtual int schemaVersion() = 0;

  // Runs fn inside one transaction (commit if it returns ok, roll back otherwise). Transactions
  // nest (savepoints): a failed inner one rolls back only its own writes. Inside a transaction,
  // writes (journal intents included) become durable at the outermost commit.
  virtual Status transaction(const std::function<Status()>& fn) = 0;

  virtual Result<std::optional<std::string>> getMeta(const std::string& key) = 0;
  virtual Status setMeta(const std::string& key, const std::string& value) = 0;

  virtual Result<std::vector<PodRecord>> listPods() = 0;
  virtual Result<std::optional<PodRecord>> getPod(const std::string& name) = 0;
  virtual Status upsertPod(const PodRecord& pod) = 0;
  // Deletes the pod with its containers and journal rows. Its events are kept for
  // EventRetention::deletedPodMs (see pruneEvents).
  virtual Status deletePod(const std::string& name) = 0;

  // Journal: intent is durable (against a crash of boxd) before the caller touches the host.
  // journalIntent ignores row.id and row.state (always Intent); updatedAtMs 0 means now. Ids are
  // never reused.
  virtual Result<int64_t> journalIntent(const JournalRow& row) = 0;
  // Marks the row Done and replaces its params (a null params keeps the intent's). An unknown
  // id is an error.
  virtual Status journalDone(int64_t id, const nlohmann::json& params) = 0;
  virtual Status journalRemove(int64_t id) = 0;  // an absent row is not an error
  virtual Result<std::vector<JournalRow>> journal(const std::string& pod) = 0;  // by seq, then id
  virtual Result<std::vector<JournalRow>> journalAll() = 0;                     // by id

  // In the order each container was first recorded. A container's pod must exist.
  virtual Result<std::vector<ContainerRecord>> containers(const std::string& pod) = 0;
  virtual Status upsertContainer(const ContainerRecord& c) = 0;
  virtual Status deleteContainers(const std::string& pod) = 0;

  // Appends, then drops the pod's oldest events beyond EventRetention::perPod (by index: the
  // cost does not grow with the table).
  virtual Result<int64_t> appendEvent(const EventRecord& e) = 0;
  // The newest events (by append order), returned oldest first; pod empty = all pods, agent-wide
  // events included. At most limit rows (limit < 0: no limit).
  virtual Result<std::vector<EventRecord>> events(const std::string& pod, int limit) = 0;
  // Drops the events of pods deleted more than EventRetention::deletedPodMs before nowMs (and
  // not created again), then the oldest beyond EventRetention::maxRows. No full-table scan.
  virtual Status pruneEvents(int64_t nowMs) = 0;
  // Applies from the next append or prune; the defaults until called. Refuses values below 1.
  virtual Status setEventRetention(const EventRetention& r) = 0;

  virtual Result<std::vector<ImageRecord>> listImages() = 0;
  virtual Result<std::optional<ImageRecord>> getImage(const std::string& name,
                                                      const std::string& tag) = 0;
  virtual Status upsertImage(const ImageRecord& img) = 0;
  virtual Status deleteImage(const std::string& name, const std::string& tag) = 0;

  virtual Result<std::vector<AddressRecord>> listAddresses() = 0;  // by allocation time
  // Fails (naming the address) if the address or the pod uid already holds a row.
  virtual Status insertAddress(const AddressRecord& a) = 0;
  virtual Status releaseAddress(const std::string& podUid) = 0;  // none held is not an error
};

const char* toString(StepState s);

}  // namespace boxd::state
