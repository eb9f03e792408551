// The journal and rollback engine on fake steps: what is applied is journaled, what fails is
// undone in reverse (the failed step too), and the journal alone undoes a crashed creation.
#include "agent/step_runner.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <mutex>
#include <set>

#include "common/util.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

struct FakeHost {
  std::mutex mu;
  std::set<std::string> present;
  std::set<std::string> failApply, failUndo;
  std::vector<std::string> calls;
};

class FakeStep : public reconcilers::Step {
 public:
  FakeStep(FakeHost& host, std::string name) : host_(host), name_(std::move(name)) {}
  std::string kind() const override { return "fake"; }
  std::string resource() const override { return name_; }
  nlohmann::json params() const override { return {{"name", name_}}; }
  Result<bool> observe() override {
    std::lock_guard<std::mutex> l(host_.mu);
    return host_.present.count(name_) > 0;
  }
  Status apply() override {
    std::lock_guard<std::mutex> l(host_.mu);
    host_.calls.push_back("apply " + name_);
    host_.present.insert(name_);  // a failing apply may have half-applied
    if (host_.failApply.count(name_)) return makeError("apply " + name_ + " failed", EIO);
    return {};
  }
  Status undo() override {
    std::lock_guard<std::mutex> l(host_.mu);
    host_.calls.push_back("undo " + name_);
    if (host_.failUndo.count(name_)) return makeError("undo " + name_ + " failed", EBUSY);
    host_.present.erase(name_);
    return {};
  }
  bool repairableInPlace() const override { return startsWith(name_, "repairable"); }

 private:
  FakeHost& host_;
  std::string name_;
};

class StepRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    dispatcher_ = std::make_unique<Dispatcher>(&loop_);
    auto store = state::Store::open(dir_ / "boxd.db");
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
    runner_ = std::make_unique<StepRunner>(
        *dispatcher_, *store_,
        [this](const std::string& kind,
               const nlohmann::json& params) -> Result<std::unique_ptr<reconcilers::Step>> {
          if (kind != "fake") return makeError("unknown step kind " + kind);
          return std::unique_ptr<reconcilers::Step>(new FakeStep(host_, params.value("name", "")));
        });
  }
  void TearDown() override {
    runner_.reset();
    dispatcher_->close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  void runUntil(const bool& flag) {
    while (!flag) uv_run(&loop_, UV_RUN_ONCE);
  }
  std::vector<PlannedStep> plan(int n) {
    std::vector<PlannedStep> p;
    for (int i = 1; i <= n; ++i) p.push_back({"fake", {{"name", "s" + std::to_string(i)}}});
    return p;
  }
  std::pair<Status, Status> create(int n) { return create(plan(n)); }
  std::pair<Status, Status> create(std::vector<PlannedStep> steps) {
    bool done = false;
    std::pair<Status, Status> out;
    runner_->create("web", "uid1", std::move(steps), [&](Status c, Status u) {
      out = {c, u};
      done = true;
    });
    runUntil(done);
    return out;
  }
  StepRunner::Drift observeAll() {
    bool done = false;
    StepRunner::Drift out;
    runner_->observeAll("web", [&](StepRunner::Drift d) {
      out = std::move(d);
      done = true;
    });
    runUntil(done);
    return out;
  }
  Status undoAll() {
    bool done = false;
    Status out;
    runner_->undoAll("web", [&](Status s) {
      out = s;
      done = true;
    });
    runUntil(done);
    return out;
  }
  std::vector<state::JournalRow> journal() { return *store_->journal("web"); }

  boxd::testing::TempDir dir_;
  uv_loop_t loop_{};
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<state::Store> store_;
  std::unique_ptr<StepRunner> runner_;
  FakeHost host_;
};

TEST_F(StepRunnerTest, AppliesInOrderAndJournalsEachStepDone) {
  auto [created, undone] = create(4);
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(host_.calls,
            (std::vector<std::string>{"apply s1", "apply s2", "apply s3", "apply s4"}));
  auto rows = journal();
  ASSERT_EQ(rows.size(), 4u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].state, state::StepState::Done);
    EXPECT_EQ(rows[i].seq, static_cast<int>(i));
    EXPECT_EQ(rows[i].resource, "s" + std::to_string(i + 1));
  }
}

TEST_F(StepRunnerTest, FailureAtEveryStepUndoesEverythingInReverse) {
  for (int k = 1; k <= 4; ++k) {
    SCOPED_TRACE("failing step " + std::to_string(k));
    host_.calls.clear();
    host_.failApply = {"s" + std::to_string(k)};
    auto [created, undone] = create(4);
    ASSERT_FALSE(created.ok());
    EXPECT_NE(
        created.error().message.find("step " + std::to_string(k) + " fake s" + std::to_string(k)),
        std::string::npos)
        << created.error().message;
    EXPECT_EQ(created.error().code, EIO);
    EXPECT_TRUE(undone.ok());
    EXPECT_TRUE(host_.present.empty()) << "the failed step had half-applied; it is undone too";
    EXPECT_TRUE(journal().empty());
    std::vector<std::string> expected;
    for (int i = 1; i <= k; ++i) expected.push_back("apply s" + std::to_string(i));
    for (int i = k; i >= 1; --i) expected.push_back("undo s" + std::to_string(i));
    EXPECT_EQ(host_.calls, expected);
  }
}

TEST_F(StepRunnerTest, FailedUndoKeepsItsRowAndReportsTheFirstError) {
  host_.failApply = {"s3"};
  host_.failUndo = {"s2"};
  auto [created, undone] = create(3);
  ASSERT_FALSE(created.ok());
  ASSERT_FALSE(undone.ok());
  EXPECT_NE(undone.error().message.find("undo fake s2"), std::string::npos)
      << undone.error().message;
  auto rows = journal();
  ASSERT_EQ(rows.size(), 1u) << "only the step that could not be undone stays, for a retry";
  EXPECT_EQ(rows[0].resource, "s2");
  EXPECT_EQ(host_.present, std::set<std::string>{"s2"});
  host_.failUndo.clear();
  EXPECT_TRUE(undoAll().ok());
  EXPECT_TRUE(journal().empty());
  EXPECT_TRUE(host_.present.empty());
}

TEST_F(StepRunnerTest, JournalAloneUndoesACrashedCreation) {
  // What a boxd killed during step 3 leaves: two done rows, one intent row (maybe applied).
  for (int i = 1; i <= 3; ++i) {
    state::JournalRow row{0,
                          "web",
                          "uid1",
                          i - 1,
                          "fake",
                          "s" + std::to_string(i),
                          {{"name", "s" + std::to_string(i)}},
                          state::StepState::Intent,
                          0};
    auto id = store_->journalIntent(row);
    ASSERT_TRUE(id.ok());
    if (i < 3) {
      ASSERT_TRUE(store_->journalDone(*id, row.params).ok());
    }
    host_.present.insert("s" + std::to_string(i));
  }
  EXPECT_TRUE(undoAll().ok());
  EXPECT_EQ(host_.calls, (std::vector<std::string>{"undo s3", "undo s2", "undo s1"}));
  EXPECT_TRUE(host_.present.empty());
  EXPECT_TRUE(journal().empty());
}

TEST_F(StepRunnerTest, UnknownKindInTheJournalIsReportedAndKept) {
  state::JournalRow row{
      0, "web", "uid1", 0, "martian", "x", nlohmann::json::object(), state::StepState::Done, 0};
  ASSERT_TRUE(store_->journalIntent(row).ok());
  Status st = undoAll();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("unknown step kind martian"), std::string::npos)
      << st.error().message;
  EXPECT_EQ(journal().size(), 1u);
}

TEST_F(StepRunnerTest, ObserveReportsResourcesGoneFromTheHost) {
  ASSERT_TRUE(create(3).first.ok());
  host_.present.erase("s2");
  StepRunner::Drift drift = observeAll();
  EXPECT_EQ(drift.absent, std::vector<std::string>{"fake s2"});
  EXPECT_TRUE(drift.repaired.empty());
}

TEST_F(StepRunnerTest, ObserveRepairsInPlaceWhatCanBeRepaired) {
  ASSERT_TRUE(
      create({{"fake", {{"name", "s1"}}}, {"fake", {{"name", "repairable-veth"}}}}).first.ok());
  host_.present.erase("repairable-veth");
  StepRunner::Drift drift = observeAll();
  EXPECT_TRUE(drift.absent.empty());
  EXPECT_EQ(drift.repaired, std::vector<std::string>{"fake repairable-veth"});
  EXPECT_EQ(host_.present.count("repairable-veth"), 1u) << "re-applied";
}

TEST_F(StepRunnerTest, InjectedFailureAtStepN) {
  runner_ = std::make_unique<StepRunner>(
      *dispatcher_, *store_,
      [this](const std::string&,
             const nlohmann::json& params) -> Result<std::unique_ptr<reconcilers::Step>> {
        return std::unique_ptr<reconcilers::Step>(new FakeStep(host_, params.value("name", "")));
      },
      FaultInjection{2, 0, false});
  auto [created, undone] = create(3);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find("fault injected at step 2"), std::string::npos);
  EXPECT_TRUE(host_.present.empty());
}

}  // namespace
}  // namespace boxd::agent
