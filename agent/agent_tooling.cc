// The operator's tooling on boxd's side: `boxctl plan` (what a directory would change),
// `boxctl top` (cgroup usage of pods and containers) and the metrics (socket op and HTTP
// endpoint). Cgroup and directory reads run off the loop; only the loop touches agent state.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "agent/metrics_server.h"
#include "agent/plan.h"
#include "common/util.h"

#ifndef BOXD_VERSION
#define BOXD_VERSION "unknown"
#endif

namespace boxd::agent {

using nlohmann::json;

namespace {

json errorReply(const std::string& msg) { return {{"ok", false}, {"error", msg}}; }

json optionalJson(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }

json usageJson(const Result<reconcilers::CgroupUsage>& u) {
  if (!u.ok()) return {{"cpuNs", nullptr}, {"memoryBytes", nullptr}, {"pids", nullptr}};
  return {{"cpuNs", optionalJson(u->cpuUsageNs)},
          {"memoryBytes", optionalJson(u->memoryWorkingSetBytes)},
          {"pids", optionalJson(u->pids)}};
}

std::optional<int64_t> fileSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return st.st_size;
}

}  // namespace

// ---- metrics hooks ----------------------------------------------------------------------------

Status Agent::startTooling() {
  runner_.setObservers([this](const std::string& kind, const char* op, double seconds,
                              bool ok) { metrics_.observeStep(kind, op, seconds, ok); },
                       [this](const std::string& kind, const char* reason) {
                         metrics_.countRollback(kind, reason);
                       });
  if (cfg_.metricsAddress.empty()) return {};
  auto ep = parseMetricsAddress(cfg_.metricsAddress);
  if (!ep.ok()) return ep.error();
  metricsServer_ = std::make_unique<MetricsServer>(
      loop_, [this](std::function<void(std::string)> done) { metricsText(std::move(done)); });
  BOXD_TRY(metricsServer_->listen(*ep));
  spdlog::info("metrics served on {}", metricsServer_->address());
  return {};
}

void Agent::stopTooling() {
  if (metricsServer_) metricsServer_->close();
}

// ---- usage (top) ------------------------------------------------------------------------------

// Every created pod's cgroup and its containers', read on a worker thread.
void Agent::readUsage(std::function<void(std::vector<UsageReading>)> done) {
  std::vector<UsageReading> targets;
  for (const auto& [name, pod] : pods_) {
    if (!pod->created || pod->rec.uid.empty()) continue;
    targets.push_back({name, "", podPaths(cfg_.paths, name, pod->rec.uid).cgroupRel, {}});
    for (const auto* c : allContainers(pod->spec)) {
      targets.push_back(
          {name, c->name, containerPaths(cfg_.paths, name, pod->rec.uid, c->name).cgroupRel, {}});
    }
  }
  auto readings = std::make_shared<std::vector<UsageReading>>(std::move(targets));
  auto* cgroups = cgroups_.get();
  dispatcher_.runBlocking(
      [readings, cgroups] {
        for (auto& r : *readings) {
          auto u = cgroups->usage(r.cgroup);
          if (u.ok()) r.usage = *u;
        }
      },
      [readings, done = std::move(done)] { done(std::move(*readings)); });
}

void Agent::handleUsage(std::function<void(json)> reply) {
  readUsage([this, reply = std::move(reply)](std::vector<UsageReading> readings) {
    int64_t sampledNs = monotonicUs() * 1000;
    json pods = json::array();
    for (const auto& r : readings) {
      auto it = pods_.find(r.pod);
      if (it == pods_.end()) continue;
      json u = usageJson(r.usage);
      if (r.container.empty()) {
        u["name"] = r.pod;
        u["uid"] = it->second->rec.uid;
        u["containers"] = json::array();
        pods.push_back(u);
      } else if (!pods.empty() && pods.back()["name"] == r.pod) {
        u["name"] = r.container;
        u["init"] = isInitContainer(it->second->spec, r.container);
        pods.back()["containers"].push_back(u);
      }
    }
    reply({{"ok", true},
           {"sampledAtNs", sampledNs},
           {"cgroupVersion", cgroups_->version()},
           {"pods", pods}});
  });
}

// ---- metrics ----------------------------------------------------------------------------------

void Agent::metricsText(std::function<void(std::string)> done) {
  readUsage([this, done = std::move(done)](std::vector<UsageReading> readings) {
    MetricsSnapshot s;
    for (const char* phase : {"Pending", "Running", "Succeeded", "Failed", "Terminating"})
      s.podsByPhase[phase] = 0;
    std::map<std::pair<std::string, std::string>, const reconcilers::CgroupUsage*> usage;
    for (const auto& r : readings) usage[{r.pod, r.container}] = &r.usage;
    for (const auto& [name, pod] : pods_) {
      if (!pod->rec.phase.empty()) s.podsByPhase[pod->rec.phase]++;
      for (const auto* c : allContainers(pod->spec)) {
        ContainerMetrics m;
        m.pod = name;
        m.container = c->name;
        m.init = isInitContainer(pod->spec, c->name);
        auto it = pod->containers.find(c->name);
        if (it != pod->containers.end()) {
          const state::ContainerRecord& rec = it->second.rec;
          m.state = rec.state;
          m.restarts = rec.restarts;
          if (rec.finishedAtMs > 0) m.lastExitCode = rec.exitCode;
        }
        auto u = usage.find({name, c->name});
        if (u != usage.end()) {
          m.cpuUsageNs = u->second->cpuUsageNs;
          m.memoryWorkingSetBytes = u->second->memoryWorkingSetBytes;
          m.pids = u->second->pids;
        }
        s.containers.push_back(std::move(m));
      }
    }
    s.specPasses = specPasses_;
    for (const auto& e : desired_.errors) {
      s.specErrorFiles++;
      s.specErrors += static_cast<int64_t>(e.errors.size());
    }
    s.specsReadable = specsError_.empty();
    s.revision = revision_;
    auto rows = store_->journalAll();
    s.journalRows = rows.ok() ? static_cast<int64_t>(rows->size()) : 0;
    auto db = fileSize(cfg_.paths.stateDir + "/boxd.db");
    if (db) s.stateDbBytes = *db + fileSize(cfg_.paths.stateDir + "/boxd.db-wal").value_or(0);
    s.version = BOXD_VERSION;
    s.startTimeSeconds = static_cast<double>(startedAtMs_) / 1000.0;
    done(renderMetrics(s, metrics_));
  });
}

void Agent::handleMetrics(std::function<void(json)> reply) {
  metricsText([reply = std::move(reply)](std::string text) {
    reply({{"ok", true}, {"text", std::move(text)}});
  });
}

// ---- plan -------------------------------------------------------------------------------------

void Agent::handlePlan(const json& req, std::function<void(json)> reply) {
  std::string dir = req.value("dir", "");
  if (dir.empty()) dir = cfg_.specsDir;
  if (dir[0] != '/') return reply(errorReply("plan: the directory must be an absolute path"));
  auto pass = std::make_shared<Result<SpecPass>>(makeError("not read"));
  dispatcher_.runBlocking(
      [pass, dir, max = cfg_.specMaxBytes] { *pass = readAndParseSpecs(dir, max, {}); },
      [this, pass, dir, reply = std::move(reply)] {
        if (!pass->ok()) return reply(errorReply(pass->error().message));
        std::vector<FileResult> files;
        for (const auto& f : (*pass)->snap.files) {
          if (!f.error.empty()) {
            files.push_back({f.name, unreadableFile(f)});
            continue;
          }
          specs::ParseResult parsed = std::move((*pass)->parsed[f.name]);
          refuseExposedSecrets(f, parsed);
          files.push_back({f.name, std::move(parsed)});
        }
        // As a pass would resolve it, on copies: nothing of the agent's state changes.
        LastGood lastGood = lastGood_;
        std::map<std::string, DesiredPod> recorded;
        std::map<std::string, RunningPod> running;
        for (const auto& [name, pod] : pods_) {
          recorded[name] = {pod->spec, pod->rec.specHash, pod->rec.sourceFile};
          running[name] = {pod->spec, pod->rec.specHash, pod->rec.sourceFile, pod->needsTeardown};
        }
        Desired next = resolveDesired(files, lastGood, recorded);
        // A Job of the specs named as a Job a CronJob keeps is held (cronjob_jobs.h): an error
        // of its file, as the pass would say it.
        std::vector<CronJobKeptJob> kept;
        for (const auto& [key, rec] : cronJobRecords_) {
          if (!next.cronJobs.count(key) && !hasErrors(next.errors, rec.sourceFile)) continue;
          auto [ns, name] = specs::splitObjectKey(key);
          keepCronJobJobs(rec, ns, name, rec.sourceFile, kept);
        }
        std::vector<SpecError> held;
        for (const auto& [key, error] : mergeCronJobJobs(next.jobs, kept, {}).held)
          held.push_back(error);
        next.errors = withSpecErrors(std::move(next.errors), held);
        PlanChanges plan = planChanges(running, desired_.secrets, next);
        json pods = json::array();
        for (const auto& p : plan.pods) {
          json pj = {
              {"name", p.name}, {"action", toString(p.action)}, {"sourceFile", p.sourceFile}};
          if (p.action == PodAction::Replace) {
            pj["fields"] = p.fields;
            pj["diff"] = p.diff;
          }
          pods.push_back(pj);
        }
        json secrets = json::array();
        for (const auto& s : plan.secrets)
          secrets.push_back({{"name", s.name}, {"action", s.action}, {"sourceFile", s.sourceFile}});
        json errors = json::array();
        for (const auto& e : next.errors) {
          for (const auto& d : e.errors) errors.push_back(d.str());
        }
        reply({{"ok", true},
               {"dir", dir},
               {"revision", (*pass)->snap.revision},
               {"changes", plan.changes()},
               {"pods", pods},
               {"secrets", secrets},
               {"specErrors", errors}});
      });
}

}  // namespace boxd::agent
