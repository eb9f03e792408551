// A CommandRunner that records every call (argv, input, timeout) and answers from a script of
// replies matched by argv prefix, so host-tool command lines are unit-tested as golden lines.
//
//   FakeCommandRunner r;
//   r.reply({"iscsiadm", "-m", "node"}, {.exitCode = 15, .err = "session exists"}, 1);  // once
//   r.onRun = [&](const auto& call) { ... create the sysfs entries a real tool would ... };
//   ... code under test ...
//   EXPECT_EQ(r.lines(), (std::vector<std::string>{"iscsiadm -m node ... --login"}));
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "reconcilers/block/command_runner.h"

namespace boxd::testing {

class FakeCommandRunner : public reconcilers::CommandRunner {
 public:
  struct Call {
    std::vector<std::string> argv;
    std::string input;
    int64_t timeoutMs = 0;
  };
  std::vector<Call> calls;
  // Called after a call is recorded and before its reply is returned.
  std::function<void(const Call&)> onRun;
  // The answer when no scripted reply matches (exit 0, no output).
  reconcilers::CommandResult defaultReply;

  // Calls whose argv starts with `prefix` get `result`, `times` times (-1 = always). The longest
  // matching prefix wins; among equal ones, the first scripted.
  void reply(std::vector<std::string> prefix, reconcilers::CommandResult result, int times = -1) {
    script_.push_back({std::move(prefix), std::move(result), std::nullopt, times});
  }
  // Calls whose argv starts with `prefix` fail to start with `err`.
  void failStart(std::vector<std::string> prefix, Error err, int times = -1) {
    script_.push_back({std::move(prefix), {}, std::move(err), times});
  }

  Result<reconcilers::CommandResult> run(const std::vector<std::string>& argv, int64_t timeoutMs,
                                         const std::string& input = "") override {
    calls.push_back({argv, input, timeoutMs});
    if (onRun) onRun(calls.back());
    Entry* best = nullptr;
    for (auto& e : script_) {
      if (e.times == 0 || !startsWith(argv, e.prefix)) continue;
      if (best == nullptr || e.prefix.size() > best->prefix.size()) best = &e;
    }
    if (best == nullptr) return defaultReply;
    if (best->times > 0) --best->times;
    if (best->startError) return *best->startError;
    return best->result;
  }

  // Each call's argv joined with single spaces.
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const auto& c : calls) out.push_back(join(c.argv));
    return out;
  }
  // Every argument of every call (for "no secret on any argv" checks).
  std::string allArgv() const {
    std::string out;
    for (const auto& c : calls) out += join(c.argv) + "\n";
    return out;
  }

  static std::string join(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
    return s;
  }

 private:
  struct Entry {
    std::vector<std::string> prefix;
    reconcilers::CommandResult result;
    std::optional<Error> startError;
    int times;
  };
  static bool startsWith(const std::vector<std::string>& argv,
                         const std::vector<std::string>& prefix) {
    if (prefix.size() > argv.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i)
      if (argv[i] != prefix[i]) return false;
    return true;
  }
  std::vector<Entry> script_;
};

}  // namespace boxd::testing
