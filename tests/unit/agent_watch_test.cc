#include <gtest/gtest.h>

#include "agent/boxctl_watch.h"

namespace boxd::agent {
namespace {

using nlohmann::json;

int64_t fixedClock() { return 1'000'000; }

json podLine(const std::string& type, const std::string& name, const std::string& phase,
             const std::string& ready) {
  return {{"type", type},
          {"pod",
           {{"name", name},
            {"phase", phase},
            {"reason", ""},
            {"ready", ready},
            {"restarts", 0},
            {"createdAtMs", 1'000'000 - 5000},
            {"podIP", "10.88.0.2"},
            {"containers", json::array()}}}};
}

TEST(WatchTable, FirstStateIsOneTableThenARowPerChange) {
  WatchTable t(WatchTable::Kind::Pods, fixedClock);
  EXPECT_EQ(t.feed(podLine("ADDED", "a-rather-long-pod-name", "Running", "1/1")), "");
  std::string first = t.feed({{"type", "SYNCED"}});
  EXPECT_EQ(first,
            "NAME                     READY   STATUS              RESTARTS   AGE    IP\n"
            "a-rather-long-pod-name   1/1     Running             0          5s     10.88.0.2\n");
  EXPECT_EQ(t.feed(podLine("MODIFIED", "web", "Pending", "0/1")),
            "web                      0/1     Pending             0          5s     10.88.0.2\n");
  EXPECT_EQ(t.feed(podLine("DELETED", "web", "Terminating", "0/1")),
            "web                      0/1     Deleted             0          5s     10.88.0.2\n");
  EXPECT_EQ(t.feed({{"type", "SYNCED"}}), "");  // only the first one prints the header
}

TEST(WatchTable, SpecsRevisionAndErrorsAreShown) {
  WatchTable t(WatchTable::Kind::Pods, fixedClock);
  json specs = {
      {"specsDir", "/srv/boxd/specs"}, {"revision", "abc123"}, {"specErrors", json::array()}};
  EXPECT_EQ(t.feed({{"type", "SPECS"}, {"specs", specs}}), "");
  EXPECT_EQ(t.feed({{"type", "SYNCED"}}).substr(0, 48),
            "specs: /srv/boxd/specs (revision abc123)\nNAME   ");
  specs["revision"] = "def456";
  specs["specErrors"] =
      json::array({{{"file", "web.yaml"},
                    {"error", "x"},
                    {"errors", json::array({{{"text", "web.yaml:3:1: spec: unknown field"}}})}}});
  EXPECT_EQ(t.feed({{"type", "SPECS"}, {"specs", specs}}),
            "specs: /srv/boxd/specs (revision def456)\n"
            "spec error: web.yaml:3:1: spec: unknown field\n");
}

TEST(WatchTable, EmptyFirstStatePrintsTheHeader) {
  WatchTable t(WatchTable::Kind::Events, fixedClock);
  EXPECT_EQ(t.feed({{"type", "SYNCED"}}).substr(0, 4), "TIME");
  std::string row = t.feed({{"type", "ADDED"},
                            {"event",
                             {{"timeMs", 0},
                              {"pod", "web"},
                              {"type", "Normal"},
                              {"reason", "Started"},
                              {"message", "started container a"}}}});
  EXPECT_NE(row.find("web"), std::string::npos);
  EXPECT_NE(row.find("Started            started container a\n"), std::string::npos) << row;
  EXPECT_EQ(t.feed({{"type", "ADDED"}}), "");  // a line without an event is skipped
}

TEST(WatchTable, WantsWatch) {
  EXPECT_TRUE(wantsWatch({"-w"}));
  EXPECT_TRUE(wantsWatch({"web", "--watch", "-o", "json"}));
  EXPECT_FALSE(wantsWatch({"-o", "json"}));
}

}  // namespace
}  // namespace boxd::agent
