// The helper's config as JSON (protocol.h). Parsing is strict: an unknown field, a field of the
// wrong type or a value out of range is an error naming the field, never its value (some of the
// values are secrets).
#include "blockd/protocol.h"

#include <initializer_list>
#include <string_view>

namespace boxd::blockd {

namespace {

using nlohmann::json;

// Reads one JSON object's fields, remembering the first problem; every error names the field's
// full path ("rbd.key"), never its value.
class Reader {
 public:
  Reader(const json& j, std::string path, Error* firstError)
      : j_(j), path_(std::move(path)), err_(firstError) {}

  bool isObject() {
    if (j_.is_object()) return true;
    fail(path_.empty() ? "the config" : path_, "expected an object");
    return false;
  }
  // Every key must be one of `known`.
  void onlyKnown(std::initializer_list<std::string_view> known) {
    if (!j_.is_object()) return;
    for (const auto& [key, value] : j_.items()) {
      bool found = false;
      for (std::string_view k : known) found = found || key == k;
      if (!found) fail(field(key), "unknown field");
    }
  }
  void str(const char* key, std::string& out, bool required) {
    const json* v = find(key, required);
    if (v == nullptr) return;
    if (!v->is_string()) return fail(field(key), "expected a string");
    out = v->get<std::string>();
    if (required && out.empty()) fail(field(key), "must not be empty");
  }
  void integer(const char* key, int64_t& out, int64_t min, int64_t max) {
    const json* v = find(key, false);
    if (v == nullptr) return;
    if (!v->is_number_integer()) return fail(field(key), "expected an integer");
    int64_t n = v->get<int64_t>();
    if (n < min || n > max) {
      return fail(field(key),
                  "out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")");
    }
    out = n;
  }
  void integer(const char* key, int& out, int min, int max) {
    int64_t wide = out;
    integer(key, wide, min, max);
    out = static_cast<int>(wide);
  }
  void boolean(const char* key, bool& out) {
    const json* v = find(key, false);
    if (v == nullptr) return;
    if (!v->is_boolean()) return fail(field(key), "expected true or false");
    out = v->get<bool>();
  }
  void strings(const char* key, std::vector<std::string>& out, bool required) {
    const json* v = find(key, required);
    if (v == nullptr) return;
    if (!v->is_array()) return fail(field(key), "expected an array of strings");
    out.clear();
    for (size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      if (!e.is_string() || e.get<std::string>().empty()) {
        return fail(field(key) + "[" + std::to_string(i) + "]", "expected a non-empty string");
      }
      out.push_back(e.get<std::string>());
    }
    if (required && out.empty()) fail(field(key), "must not be empty");
  }
  // The sub-object at `key`, or nullptr when absent (or null).
  const json* object(const char* key) { return find(key, false); }
  std::string field(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  void fail(const std::string& field, const std::string& what) {
    if (err_->message.empty()) *err_ = makeError("blockd config: " + field + ": " + what, EINVAL);
  }

 private:
  const json* find(const char* key, bool required) {
    if (!j_.is_object()) return nullptr;
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (required) fail(field(key), "missing");
      return nullptr;
    }
    return &*it;
  }

  const json& j_;
  std::string path_;
  Error* err_;
};

json chapToJson(const Chap& c) {
  return {{"username", c.username},
          {"password", c.password},
          {"usernameIn", c.usernameIn},
          {"passwordIn", c.passwordIn}};
}

std::optional<Chap> chapFromJson(Reader& parent, const char* key, Error* err) {
  const json* v = parent.object(key);
  if (v == nullptr) return std::nullopt;
  Reader r(*v, parent.field(key), err);
  if (!r.isObject()) return std::nullopt;
  r.onlyKnown({"username", "password", "usernameIn", "passwordIn"});
  Chap c;
  r.str("username", c.username, true);
  r.str("password", c.password, true);
  r.str("usernameIn", c.usernameIn, false);
  r.str("passwordIn", c.passwordIn, false);
  if (c.usernameIn.empty() != c.passwordIn.empty()) {
    r.fail(parent.field(key), "usernameIn and passwordIn go together (mutual CHAP)");
  }
  return c;
}

std::optional<IscsiConfig> iscsiFromJson(Reader& parent, Error* err) {
  const json* v = parent.object("iscsi");
  if (v == nullptr) return std::nullopt;
  Reader r(*v, "iscsi", err);
  if (!r.isObject()) return std::nullopt;
  r.onlyKnown(
      {"portals", "iqn", "initiatorName", "sessions", "chap", "discoveryChap", "discovery"});
  IscsiConfig c;
  r.strings("portals", c.portals, true);
  r.str("iqn", c.iqn, true);
  r.str("initiatorName", c.initiatorName, true);
  r.integer("sessions", c.sessions, 1, 64);
  c.chap = chapFromJson(r, "chap", err);
  c.discoveryChap = chapFromJson(r, "discoveryChap", err);
  r.boolean("discovery", c.discovery);
  return c;
}

std::optional<RbdConfig> rbdFromJson(Reader& parent, Error* err) {
  const json* v = parent.object("rbd");
  if (v == nullptr) return std::nullopt;
  Reader r(*v, "rbd", err);
  if (!r.isObject()) return std::nullopt;
  r.onlyKnown({"monHost", "user", "key", "pool", "image", "readOnly", "exclusive"});
  RbdConfig c;
  r.str("monHost", c.monHost, true);
  r.str("user", c.user, true);
  r.str("key", c.key, true);
  r.str("pool", c.pool, true);
  r.str("image", c.image, true);
  r.boolean("readOnly", c.readOnly);
  r.boolean("exclusive", c.exclusive);
  return c;
}

}  // namespace

nlohmann::json toJson(const Config& c) {
  json j = {{"backend", c.backend},
            {"mountpoint", c.mountpoint},
            {"pidFile", c.pidFile},
            {"logFile", c.logFile},
            {"connectTimeoutMs", c.connectTimeoutMs},
            {"ioTimeoutMs", c.ioTimeoutMs},
            {"threads", c.threads}};
  if (c.iscsi) {
    const IscsiConfig& i = *c.iscsi;
    json ij = {{"portals", i.portals},
               {"iqn", i.iqn},
               {"initiatorName", i.initiatorName},
               {"sessions", i.sessions},
               {"discovery", i.discovery}};
    if (i.chap) ij["chap"] = chapToJson(*i.chap);
    if (i.discoveryChap) ij["discoveryChap"] = chapToJson(*i.discoveryChap);
    j["iscsi"] = std::move(ij);
  }
  if (c.rbd) {
    const RbdConfig& r = *c.rbd;
    j["rbd"] = {{"monHost", r.monHost},    {"user", r.user},   {"key", r.key},
                {"pool", r.pool},          {"image", r.image}, {"readOnly", r.readOnly},
                {"exclusive", r.exclusive}};
  }
  return j;
}

Result<Config> configFromJson(const nlohmann::json& j) {
  Error err;
  Reader r(j, "", &err);
  if (!r.isObject()) return err;
  r.onlyKnown({"backend", "mountpoint", "pidFile", "logFile", "connectTimeoutMs", "ioTimeoutMs",
               "threads", "iscsi", "rbd"});
  Config c;
  r.str("backend", c.backend, true);
  r.str("mountpoint", c.mountpoint, true);
  r.str("pidFile", c.pidFile, false);
  r.str("logFile", c.logFile, false);
  r.integer("connectTimeoutMs", c.connectTimeoutMs, 100, 3600 * 1000);
  r.integer("ioTimeoutMs", c.ioTimeoutMs, 100, 3600 * 1000);
  r.integer("threads", c.threads, 1, 256);
  c.iscsi = iscsiFromJson(r, &err);
  c.rbd = rbdFromJson(r, &err);
  if (!err.message.empty()) return err;

  if (!c.mountpoint.empty() && c.mountpoint.front() != '/') {
    r.fail("mountpoint", "must be an absolute path");
  } else if (c.backend == "iscsi") {
    if (!c.iscsi) r.fail("iscsi", "missing (backend is iscsi)");
    if (c.rbd) r.fail("rbd", "not allowed with backend iscsi");
  } else if (c.backend == "rbd") {
    if (!c.rbd) r.fail("rbd", "missing (backend is rbd)");
    if (c.iscsi) r.fail("iscsi", "not allowed with backend rbd");
  } else {
    r.fail("backend", "expected \"iscsi\" or \"rbd\"");
  }
  if (!err.message.empty()) return err;
  return c;
}

}  // namespace boxd::blockd
