#include "reconcilers/block/iscsi_node_db.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "common/fd.h"
#include "common/util.h"

namespace boxd::reconcilers {

namespace {

constexpr int kLockTries = 500;  // iscsiadm retries every 10 ms for 30 s; we give up after 5 s
constexpr int64_t kLockRetryMs = 10;
constexpr size_t kMaxChapLength = 255;  // open-iscsi's AUTH_STR_MAX_LEN - 1

// The keys boxd owns in a record; every other line is kept as iscsiadm wrote it.
constexpr const char* kAuthKeys[] = {"authmethod",        "username",    "password",
                                     "username_in",       "password_in", "password_length",
                                     "password_in_length"};

bool isAuthLine(const std::string& line, const std::string& prefix) {
  std::string t = trim(line);
  for (const char* key : kAuthKeys) {
    std::string name = prefix + "." + key;
    if (!startsWith(t, name)) continue;
    std::string rest = trim(t.substr(name.size()));
    if (!rest.empty() && rest[0] == '=') return true;
  }
  return false;
}

// iscsiadm's write lock: <lockDir>/lock.write exists (a hard link to <lockDir>/lock) while
// a writer holds the database. Released by the destructor.
class DbLock {
 public:
  static Result<DbLock> take(const std::string& lockDir, const SleepFn& sleep) {
    BOXD_TRY(mkdirAll(lockDir, 0770));
    std::string lock = lockDir + "/lock", write = lockDir + "/lock.write";
    Fd fd(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return sysError("create", lock);
    for (int i = 0; i < kLockTries; ++i) {
      if (::link(lock.c_str(), write.c_str()) == 0) return DbLock(write);
      if (errno != EEXIST) return sysError("link", lock + " to " + write);
      sleep(kLockRetryMs);
    }
    return makeError("iscsi database lock " + write +
                         " is held by another writer (a running or crashed iscsiadm?)",
                     EBUSY);
  }
  DbLock(DbLock&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  DbLock& operator=(DbLock&&) = delete;
  DbLock(const DbLock&) = delete;
  ~DbLock() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }

 private:
  explicit DbLock(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

std::vector<std::string> authLines(const std::string& prefix,
                                   const std::optional<blockd::Chap>& chap) {
  if (!chap) return {prefix + ".authmethod = None"};
  std::vector<std::string> lines{prefix + ".authmethod = CHAP",
                                 prefix + ".username = " + chap->username,
                                 prefix + ".password = " + chap->password};
  if (!chap->usernameIn.empty()) {
    lines.push_back(prefix + ".username_in = " + chap->usernameIn);
    lines.push_back(prefix + ".password_in = " + chap->passwordIn);
  }
  return lines;
}

Status validateChap(const blockd::Chap& chap, const std::string& what) {
  BOXD_TRY(validateChapValue(chap.username, what + " username"));
  BOXD_TRY(validateChapValue(chap.password, what + " password"));
  if (chap.usernameIn.empty() && chap.passwordIn.empty()) return {};
  BOXD_TRY(validateChapValue(chap.usernameIn, what + " target username (mutual CHAP)"));
  BOXD_TRY(validateChapValue(chap.passwordIn, what + " target password (mutual CHAP)"));
  return {};
}

}  // namespace

std::string IscsiPortal::arg() const {
  bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + port;
}

Result<IscsiPortal> parseIscsiPortal(const std::string& portal) {
  IscsiPortal p;
  std::string rest;
  if (!portal.empty() && portal[0] == '[') {
    auto close = portal.find(']');
    if (close == std::string::npos) return makeError("iSCSI portal " + portal + ": no ]", EINVAL);
    p.address = portal.substr(1, close - 1);
    rest = portal.substr(close + 1);
  } else {
    auto colon = portal.rfind(':');
    bool hasPort = colon != std::string::npos && portal.find(':') == colon;
    p.address = hasPort ? portal.substr(0, colon) : portal;
    rest = hasPort ? portal.substr(colon) : "";
  }
  if (!rest.empty() && (rest[0] != ':' || rest.size() == 1))
    return makeError("iSCSI portal " + portal + ": expected host:port", EINVAL);
  p.port = rest.empty() ? "3260" : rest.substr(1);
  if (p.port.find_first_not_of("0123456789") != std::string::npos)
    return makeError("iSCSI portal " + portal + ": port is not a number", EINVAL);
  if (p.address.empty() || p.address.find_first_of(" \t\n,/") != std::string::npos)
    return makeError("iSCSI portal " + portal + ": bad address", EINVAL);
  return p;
}

Status validateChapValue(const std::string& value, const std::string& field) {
  if (value.empty()) return makeError(field + " is empty", EINVAL);
  if (value.size() > kMaxChapLength)
    return makeError(field + " is longer than 255 bytes (open-iscsi's limit)", EINVAL);
  if (value.find_first_of(std::string("\n\r\0", 3)) != std::string::npos)
    return makeError(field + " contains a line break or NUL", EINVAL);
  if (trim(value) != value)
    return makeError(field + " starts or ends with a blank (iscsiadm would strip it)", EINVAL);
  return {};
}

IscsiNodeDb::IscsiNodeDb(std::string root, std::string lockDir, SleepFn sleep)
    : root_(std::move(root)), lockDir_(std::move(lockDir)), sleep_(std::move(sleep)) {}

std::vector<std::string> IscsiNodeDb::nodeRecords(const std::string& iqn, const IscsiPortal& portal,
                                                  const std::string& iface) const {
  std::vector<std::string> out;
  std::string targetDir = root_ + "/nodes/" + iqn;
  std::string prefix = portal.address + "," + portal.port + ",";
  for (const auto& name : sysfs::list(targetDir)) {
    if (!startsWith(name, prefix)) continue;
    std::string file = targetDir + "/" + name + "/" + iface;
    if (sysfs::exists(file)) out.push_back(file);
  }
  return out;
}

std::string IscsiNodeDb::discoveryRecord(const IscsiPortal& portal) const {
  return root_ + "/send_targets/" + portal.address + "," + portal.port + "/st_config";
}

Status IscsiNodeDb::setAuth(const std::string& recordPath, const std::string& prefix,
                            const std::optional<blockd::Chap>& chap,
                            const std::string& what) const {
  if (chap) BOXD_TRY(validateChap(*chap, what));
  auto lock = DbLock::take(lockDir_, sleep_);
  if (!lock.ok()) return lock.error().wrap("set " + what + " in " + recordPath);
  auto content = readFile(recordPath);
  if (!content.ok()) return content.error().wrap("set " + what);
  std::string out;
  bool inserted = false;
  auto ours = authLines(prefix, chap);
  for (const auto& line : split(*content, '\n')) {
    if (line.empty() || isAuthLine(line, prefix)) continue;
    if (!inserted && trim(line) == "# END RECORD") {
      for (const auto& l : ours) out += l + "\n";
      inserted = true;
    }
    out += line + "\n";
  }
  if (!inserted)
    for (const auto& l : ours) out += l + "\n";
  auto st = writeFileAtomic(recordPath, out, 0600, Durability::Sync);
  if (!st.ok()) return st.error().wrap("set " + what);
  return {};
}

Result<std::string> IscsiNodeDb::hostInitiatorName() const {
  std::string path = root_ + "/initiatorname.iscsi";
  auto content = readFile(path);
  if (!content.ok()) return content.error();
  for (const auto& line : split(*content, '\n')) {
    std::string t = trim(line);
    if (startsWith(t, "InitiatorName=")) return trim(t.substr(14));
  }
  return makeError(path + " has no InitiatorName= line", ENOENT);
}

}  // namespace boxd::reconcilers
