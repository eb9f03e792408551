// The wire protocol between boxd and a pod's boxd-shim: newline-delimited JSON over a unix
// stream socket. Header-only so the shim binary needs nothing but this file and nlohmann_json.
//
//   {"op":"start","name","rootfs","argv":[..],"env":["K=V"],"cwd","cgroupProcs":[..],"log",
//    "security":{uid,gid,groups,capabilities,privileged,readOnlyRootfs,noNewPrivs},
//    "mounts":[{source,subPath,mountPath,readOnly,createSubPath}]}
//        -> {"ok":true,"pid":N,"startedAtMs":T}        (only after execve succeeded)
//        "mounts" (optional, in order): bound by the container's child in its own mount
//        namespace before pivot_root (agent/shim/mounts.h)
//        optional "logMaxBytes", "logMaxFiles": the log's rotation (agent/shim/log_writer.h);
//        starting a name again keeps its last run's log as <c>.previous.log
//        optional "oomEventsFile": the container's cgroup file counting OOM kills ("oom_kill N");
//        a run that exits non-zero after that count grew is reported oomKilled
//   {"op":"state"}          -> {"ok":true,"containers":[{name,pid,running,exitCode,signal,
//                                                         oomKilled,startedAtMs,finishedAtMs}]}
//   {"op":"stop","name","graceSeconds"}   -> {"ok":true} once the container has exited
//   {"op":"shutdown","graceSeconds"}      -> {"ok":true} once every container has exited;
//                                            the shim then removes socket + pidfile and exits
//   {"op":"subscribe"}      -> {"ok":true}, then {"event":"exit",name,exitCode,signal,
//                              oomKilled,finishedAtMs} lines for as long as the connection stays
//                              open, and a container's stop as it happens:
//                              {"event":"stopping",name,signal:"SIGTERM",graceSeconds} and, when
//                              the grace period ran out, {"event":"killing",name,signal:"SIGKILL",
//                              graceSeconds}
// Any failure: {"ok":false,"error":"..."}.
//
// exitCode is the exit status, or 128+signal when the process was killed by a signal (then
// signal is non-zero), as kubelet reports it.
//
// No function here throws: malformed input comes back as an Error.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "specs/capabilities.h"

namespace boxd::reconcilers {

inline constexpr size_t kShimMaxLineBytes = 1 << 20;  // a request or reply line

// Who a container's processes are and what they may do: resolved by boxd from the pod's and the
// container's securityContext (agent/security_context.h). A request without it, or without one
// of its fields, gets these defaults: what every container got before securityContext existed.
struct ContainerSecurity {
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;  // supplementary groups, exactly these
  // The bounding set; also the permitted and effective sets when uid is 0 (a non-root process
  // has none after execve, as under Kubernetes: boxd sets no ambient capabilities).
  uint64_t capabilities = specs::kDefaultCapabilities;
  bool privileged = false;      // no masked paths, no seccomp filter, /sys read-write
  bool readOnlyRootfs = false;  // the root mount read-only; volumes keep their own mode
  bool noNewPrivs = true;       // PR_SET_NO_NEW_PRIVS
  bool operator==(const ContainerSecurity&) const = default;
};

// One bind into a container, made in its own mount namespace: a volume (or a subPath of it), a
// pod file, later a block volume's filesystem. Generic: source is any host path boxd or the
// pod's author chose; everything about the container's side is resolved beneath its rootfs.
struct ContainerMount {
  std::string source;          // absolute host path: the volume's directory or file
  std::string subPath;         // relative, beneath source; empty = source itself
  std::string mountPath;       // absolute, inside the container
  bool readOnly = false;       // ro,nosuid,nodev
  bool createSubPath = false;  // a missing subPath is created as a directory (emptyDir)
  bool operator==(const ContainerMount&) const = default;
};

struct ContainerLaunch {
  std::string name, rootfs;
  std::vector<std::string> argv,
      env;          // env exactly as given, "K=V"; defaults fill PATH/HOME/HOSTNAME
  std::string cwd;  // empty = "/"
  std::vector<std::string> cgroupProcs;
  std::string logPath;  // stdout+stderr, appended; empty = /dev/null
  ContainerSecurity security;
  std::vector<ContainerMount> mounts;  // in order: a parent before what is mounted beneath it

  // The log's rotation: past logMaxBytes; logMaxFiles = the current file + rotated ones kept.
  int64_t logMaxBytes = 10 << 20;
  int logMaxFiles = 2;
  std::string oomEventsFile;  // empty: OOM kills are not told apart from other exits
};

struct ContainerStatus {
  std::string name;
  int pid = 0;  // host pid
  bool running = false;
  int exitCode = 0;
  int signal = 0;
  bool oomKilled = false;  // the run exited non-zero after the OOM killer struck in its cgroup
  int64_t startedAtMs = 0, finishedAtMs = 0;
};

struct ExitEvent {
  std::string name;
  int exitCode = 0;
  int signal = 0;
  bool oomKilled = false;
  int64_t finishedAtMs = 0;
};

// A container being stopped: "stopping" when SIGTERM is sent, "killing" when its grace period
// ran out and SIGKILL follows (with graceSeconds 0, SIGKILL at once: "killing" only).
struct StopEvent {
  std::string kind;  // stopping, killing
  std::string name;
  int graceSeconds = 0;
};

namespace shimproto {

// Serializes without ever throwing (invalid UTF-8 is replaced), plus the trailing newline.
inline std::string line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

inline Result<nlohmann::json> parseObject(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return makeError("malformed JSON");
  if (!j.is_object()) return makeError("expected a JSON object");
  return j;
}

// Field readers: absent = default; present with the wrong type = error naming the field.
inline Status getString(const nlohmann::json& j, const char* key, std::string& out,
                        bool required = false) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return makeError(std::string("missing field \"") + key + "\"");
    return {};
  }
  if (!it->is_string()) return makeError(std::string("field \"") + key + "\" must be a string");
  out = it->get_ref<const std::string&>();
  return {};
}

inline Status getStrings(const nlohmann::json& j, const char* key, std::vector<std::string>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  std::string err = std::string("field \"") + key + "\" must be an array of strings";
  if (!it->is_array()) return makeError(err);
  out.clear();
  for (const auto& v : *it) {
    if (!v.is_string()) return makeError(err);
    out.push_back(v.get_ref<const std::string&>());
  }
  return {};
}

template <typename Int>
inline Status getInt(const nlohmann::json& j, const char* key, Int& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_number_integer())
    return makeError(std::string("field \"") + key + "\" must be an integer");
  out = it->get<Int>();
  return {};
}

inline Status getBool(const nlohmann::json& j, const char* key, bool& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_boolean()) return makeError(std::string("field \"") + key + "\" must be a boolean");
  out = it->get<bool>();
  return {};
}

inline nlohmann::json securityToJson(const ContainerSecurity& s) {
  return {{"uid", s.uid},
          {"gid", s.gid},
          {"groups", s.groups},
          {"capabilities", s.capabilities},
          {"privileged", s.privileged},
          {"readOnlyRootfs", s.readOnlyRootfs},
          {"noNewPrivs", s.noNewPrivs}};
}

// A user or group id: below 2^32-1, which setresuid reads as "leave unchanged".
inline Status getId(const nlohmann::json& v, const std::string& field, uint32_t& out) {
  bool ok = v.is_number_unsigned()
                ? v.get<uint64_t>() < 0xffffffff
                : v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < 0xffffffff;
  if (!ok) return makeError("field \"security." + field + "\" must be an id below 4294967295");
  out = static_cast<uint32_t>(v.get<uint64_t>());
  return {};
}

// Absent (or null) = the defaults, field by field.
inline Result<ContainerSecurity> securityFromJson(const nlohmann::json& j) {
  ContainerSecurity s;
  if (j.is_null()) return s;
  if (!j.is_object()) return makeError("field \"security\" must be an object");
  auto present = [&](const char* key) { return j.contains(key) && !j[key].is_null(); };
  if (present("uid")) BOXD_TRY(getId(j["uid"], "uid", s.uid));
  if (present("gid")) BOXD_TRY(getId(j["gid"], "gid", s.gid));
  if (present("groups")) {
    if (!j["groups"].is_array()) return makeError("field \"security.groups\" must be an array");
    for (const auto& g : j["groups"]) BOXD_TRY(getId(g, "groups", s.groups.emplace_back()));
  }
  if (present("capabilities")) {
    const auto& c = j["capabilities"];
    if (!c.is_number_unsigned() && !(c.is_number_integer() && c.get<int64_t>() >= 0))
      return makeError("field \"security.capabilities\" must be a non-negative integer");
    s.capabilities = c.get<uint64_t>();
  }
  BOXD_TRY(getBool(j, "privileged", s.privileged));
  BOXD_TRY(getBool(j, "readOnlyRootfs", s.readOnlyRootfs));
  BOXD_TRY(getBool(j, "noNewPrivs", s.noNewPrivs));
  return s;
}

inline nlohmann::json mountToJson(const ContainerMount& m) {
  return {{"source", m.source},
          {"subPath", m.subPath},
          {"mountPath", m.mountPath},
          {"readOnly", m.readOnly},
          {"createSubPath", m.createSubPath}};
}

// Absent (or null) = no mounts: a request from an older boxd still parses.
inline Result<std::vector<ContainerMount>> mountsFromJson(const nlohmann::json& j) {
  std::vector<ContainerMount> out;
  if (j.is_null()) return out;
  if (!j.is_array()) return makeError("field \"mounts\" must be an array");
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string at = "mounts[" + std::to_string(i) + "]";
    if (!j[i].is_object()) return makeError("field \"" + at + "\" must be an object");
    ContainerMount m;
    Status st = getString(j[i], "source", m.source, true);
    if (st.ok()) st = getString(j[i], "subPath", m.subPath);
    if (st.ok()) st = getString(j[i], "mountPath", m.mountPath, true);
    if (st.ok()) st = getBool(j[i], "readOnly", m.readOnly);
    if (st.ok()) st = getBool(j[i], "createSubPath", m.createSubPath);
    if (!st.ok()) return st.error().wrap(at);
    if (m.source.empty() || m.source[0] != '/' || m.mountPath.empty() || m.mountPath[0] != '/')
      return makeError(at + ": source and mountPath must be absolute paths");
    if (!m.subPath.empty() && m.subPath[0] == '/')
      return makeError(at + ": subPath must be relative");
    out.push_back(std::move(m));
  }
  return out;
}

inline nlohmann::json startRequest(const ContainerLaunch& l) {
  nlohmann::json j = {
      {"op", "start"}, {"name", l.name}, {"rootfs", l.rootfs},           {"argv", l.argv},
      {"env", l.env},  {"cwd", l.cwd},   {"cgroupProcs", l.cgroupProcs}, {"log", l.logPath}};
  j["security"] = securityToJson(l.security);
  if (!l.mounts.empty()) {
    j["mounts"] = nlohmann::json::array();
    for (const auto& m : l.mounts) j["mounts"].push_back(mountToJson(m));
  }
  j["logMaxBytes"] = l.logMaxBytes;
  j["logMaxFiles"] = l.logMaxFiles;
  if (!l.oomEventsFile.empty()) j["oomEventsFile"] = l.oomEventsFile;
  return j;
}

inline Result<ContainerLaunch> launchFromJson(const nlohmann::json& j) {
  ContainerLaunch l;
  BOXD_TRY(getString(j, "name", l.name, true));
  BOXD_TRY(getString(j, "rootfs", l.rootfs, true));
  BOXD_TRY(getStrings(j, "argv", l.argv));
  BOXD_TRY(getStrings(j, "env", l.env));
  BOXD_TRY(getString(j, "cwd", l.cwd));
  BOXD_TRY(getStrings(j, "cgroupProcs", l.cgroupProcs));
  BOXD_TRY(getString(j, "log", l.logPath));
  auto security = securityFromJson(j.contains("security") ? j["security"] : nlohmann::json());
  if (!security.ok()) return security.error();
  l.security = std::move(*security);
  auto mounts = mountsFromJson(j.contains("mounts") ? j["mounts"] : nlohmann::json());
  if (!mounts.ok()) return mounts.error();
  l.mounts = std::move(*mounts);
  BOXD_TRY(getInt(j, "logMaxBytes", l.logMaxBytes));
  BOXD_TRY(getInt(j, "logMaxFiles", l.logMaxFiles));
  BOXD_TRY(getString(j, "oomEventsFile", l.oomEventsFile));
  if (l.logMaxBytes <= 0 || l.logMaxFiles <= 0)
    return makeError("fields \"logMaxBytes\" and \"logMaxFiles\" must be positive");
  if (l.name.empty()) return makeError("field \"name\" is empty");
  if (l.argv.empty()) return makeError("field \"argv\" is empty");
  return l;
}

inline nlohmann::json statusToJson(const ContainerStatus& s) {
  return {{"name", s.name},
          {"pid", s.pid},
          {"running", s.running},
          {"exitCode", s.exitCode},
          {"signal", s.signal},
          {"oomKilled", s.oomKilled},
          {"startedAtMs", s.startedAtMs},
          {"finishedAtMs", s.finishedAtMs}};
}

inline Result<ContainerStatus> statusFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return makeError("container status is not an object");
  ContainerStatus s;
  BOXD_TRY(getString(j, "name", s.name, true));
  BOXD_TRY(getInt(j, "pid", s.pid));
  BOXD_TRY(getBool(j, "running", s.running));
  BOXD_TRY(getInt(j, "exitCode", s.exitCode));
  BOXD_TRY(getInt(j, "signal", s.signal));
  BOXD_TRY(getBool(j, "oomKilled", s.oomKilled));
  BOXD_TRY(getInt(j, "startedAtMs", s.startedAtMs));
  BOXD_TRY(getInt(j, "finishedAtMs", s.finishedAtMs));
  return s;
}

inline nlohmann::json exitEventToJson(const ExitEvent& e) {
  return {{"event", "exit"},    {"name", e.name},           {"exitCode", e.exitCode},
          {"signal", e.signal}, {"oomKilled", e.oomKilled}, {"finishedAtMs", e.finishedAtMs}};
}

inline Result<ExitEvent> exitEventFromJson(const nlohmann::json& j) {
  std::string kind;
  BOXD_TRY(getString(j, "event", kind, true));
  if (kind != "exit") return makeError("unknown event \"" + kind + "\"");
  ExitEvent e;
  BOXD_TRY(getString(j, "name", e.name, true));
  BOXD_TRY(getInt(j, "exitCode", e.exitCode));
  BOXD_TRY(getInt(j, "signal", e.signal));
  BOXD_TRY(getBool(j, "oomKilled", e.oomKilled));
  BOXD_TRY(getInt(j, "finishedAtMs", e.finishedAtMs));
  return e;
}

inline nlohmann::json stopEventToJson(const StopEvent& e) {
  return {{"event", e.kind},
          {"name", e.name},
          {"signal", e.kind == "stopping" ? "SIGTERM" : "SIGKILL"},
          {"graceSeconds", e.graceSeconds}};
}

inline Result<StopEvent> stopEventFromJson(const nlohmann::json& j) {
  StopEvent e;
  BOXD_TRY(getString(j, "event", e.kind, true));
  if (e.kind != "stopping" && e.kind != "killing")
    return makeError("not a stop event: \"" + e.kind + "\"");
  BOXD_TRY(getString(j, "name", e.name, true));
  BOXD_TRY(getInt(j, "graceSeconds", e.graceSeconds));
  return e;
}

inline nlohmann::json okReply() { return {{"ok", true}}; }
inline nlohmann::json errorReply(const std::string& message) {
  return {{"ok", false}, {"error", message}};
}

}  // namespace shimproto
}  // namespace boxd::reconcilers
