// A pull's layer progress (agent/pull_progress.h) and how `boxctl image pull` shows it
// (agent/boxctl_pull_view.h): states in docker's words, byte progress rate-limited, plain lines
// only on change, rows redrawn in place on a terminal.
#include "agent/pull_progress.h"

#include <gtest/gtest.h>

#include "agent/boxctl_pull_view.h"

namespace boxd::agent {
namespace {

using images::PullEvent;
using K = images::PullEvent::Kind;
using nlohmann::json;

const std::string kLayer = "sha256:" + std::string(64, 'a');
const std::string kOld = "sha256:" + std::string(64, 'b');
const std::string kConfig = "sha256:" + std::string(64, 'c');

struct Recorder {
  int64_t now = 0;
  std::vector<LayerUpdate> seen;
  LayerUpdateSource source{[this](const LayerUpdate& u) { seen.push_back(u); },
                           [this] { return now; }};
  std::vector<std::string> states() const {
    std::vector<std::string> out;
    for (const auto& u : seen) out.push_back(u.digest.substr(7, 1) + " " + u.state);
    return out;
  }
};

PullEvent ev(K kind, const std::string& digest, int64_t done = 0, int64_t size = 1000) {
  return {kind, digest, "", size, done, "127.0.0.1:5000"};
}

TEST(LayerUpdateSource, GoesThroughDockersStatesAndLeavesTheConfigOut) {
  Recorder r;
  r.source.pullEvent(ev(K::Resolved, kConfig));
  r.source.pullEvent(ev(K::BlobSkipped, kOld));
  r.source.pullEvent(ev(K::BlobQueued, kLayer));
  r.source.pullEvent(ev(K::BlobStart, kConfig));
  r.source.pullEvent(ev(K::BlobDone, kConfig));
  r.source.pullEvent(ev(K::BlobStart, kLayer));
  r.now = 10;
  r.source.pullEvent(ev(K::BlobProgress, kLayer, 100));  // within the interval: dropped
  r.now = 10 + kProgressIntervalMs;
  r.source.pullEvent(ev(K::BlobProgress, kLayer, 500));
  r.source.pullEvent(ev(K::BlobRetry, kLayer));
  r.source.pullEvent(ev(K::BlobStart, kLayer));
  r.source.pullEvent(ev(K::BlobProgress, kLayer, 1000));  // every byte in
  r.source.pullEvent(ev(K::BlobDone, kLayer, 1000));
  r.source.unpacking(kOld, false);  // stored already: no Extracting
  r.source.unpacking(kOld, true);
  r.source.unpacking(kLayer, false);
  r.source.unpacking(kLayer, true);
  EXPECT_EQ(r.states(),
            (std::vector<std::string>{"b Already exists", "a Waiting", "a Downloading",
                                      "a Downloading", "a Retrying", "a Downloading", "a Verifying",
                                      "a Download complete", "a Extracting", "a Pull complete"}));
  EXPECT_EQ(r.seen[3].done, 500);
  EXPECT_EQ(r.seen[3].size, 1000);
}

TEST(PullProgress, KeepsTheLatestOfEachLayerInOrder) {
  PullProgress p;
  p.apply({kLayer, "Downloading", 10, 100});
  p.apply({kOld, "Already exists", 0, 50});
  p.apply({kLayer, "Extracting", 100, 100});
  auto lines = p.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["digest"], kLayer);
  EXPECT_EQ(lines[0]["state"], "Extracting");
  EXPECT_EQ(lines[0]["type"], "LAYER");
  EXPECT_EQ(lines[1]["state"], "Already exists");
}

TEST(PullView, PlainLinesOnlyWhenTheStateChanges) {
  PullView v(false);
  auto line = [](const std::string& d, const std::string& state, int64_t done) {
    return PullProgress::line({d, state, done, 2048});
  };
  EXPECT_EQ(v.feed(line(kLayer, "Waiting", 0)), "aaaaaaaaaaaa: Waiting (2.0KiB)\n");
  EXPECT_EQ(v.feed(line(kLayer, "Downloading", 1024)),
            "aaaaaaaaaaaa: Downloading  1.0KiB / 2.0KiB\n");
  EXPECT_EQ(v.feed(line(kLayer, "Downloading", 1536)), "");
  EXPECT_EQ(v.feed(line(kLayer, "Pull complete", 2048)), "aaaaaaaaaaaa: Pull complete (2.0KiB)\n");
  EXPECT_EQ(v.feed(json{{"type", "PULL"}}), "");
}

TEST(PullView, OnATerminalEveryRowIsRedrawnInPlace) {
  PullView v(true);
  auto line = [](const std::string& d, const std::string& state) {
    return PullProgress::line({d, state, 0, 2048});
  };
  EXPECT_EQ(v.feed(line(kOld, "Already exists")),
            "\r\033[Kbbbbbbbbbbbb: Already exists (2.0KiB)\n");
  EXPECT_EQ(v.feed(line(kLayer, "Waiting")),
            "\033[1A\r\033[Kbbbbbbbbbbbb: Already exists (2.0KiB)\n"
            "\r\033[Kaaaaaaaaaaaa: Waiting (2.0KiB)\n");
  EXPECT_EQ(v.feed(line(kLayer, "Extracting")),
            "\033[2A\r\033[Kbbbbbbbbbbbb: Already exists (2.0KiB)\n"
            "\r\033[Kaaaaaaaaaaaa: Extracting\n");
}

}  // namespace
}  // namespace boxd::agent
