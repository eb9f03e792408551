#include "agent/desired.h"

#include <set>

namespace boxd::agent {

namespace {

FileGood contentsOf(const FileResult& f) {
  FileGood out;
  for (const auto& p : f.parsed.pods) out.pods.push_back({p.spec, specs::specHash(p.spec), f.file});
  for (const auto& s : f.parsed.secrets) out.secrets.push_back({s.secret, f.file});
  for (const auto& c : f.parsed.configMaps) out.configMaps.push_back({c.configMap, f.file});
  for (const auto& j : f.parsed.jobs) out.jobs.push_back({j.job, specs::jobHash(j.job), f.file});
  for (const auto& c : f.parsed.cronJobs)
    out.cronJobs.push_back({c.cronJob, specs::cronJobHash(c.cronJob), f.file});
  return out;
}

FileGood recordedFrom(const std::string& file, const std::map<std::string, DesiredPod>& recorded) {
  FileGood out;
  for (const auto& [name, pod] : recorded) {
    if (pod.sourceFile == file) out.pods.push_back(pod);
  }
  return out;
}

// The files other than `self` among the declarations, comma-separated.
template <typename Decl>
std::string otherFiles(const std::vector<Decl>& decls, const std::string& self) {
  std::string others;
  for (const auto& o : decls) {
    if (o.sourceFile != self) others += (others.empty() ? "" : ", ") + o.sourceFile;
  }
  return others;
}

void addErrors(Desired& out, std::map<std::string, std::vector<specs::Diagnostic>>& byFile) {
  for (auto& [file, errs] : byFile) {
    bool merged = false;
    for (auto& e : out.errors) {
      if (e.file == file) {
        e.errors.insert(e.errors.end(), errs.begin(), errs.end());
        merged = true;
      }
    }
    if (!merged) out.errors.push_back({file, std::move(errs)});
  }
}

}  // namespace

Desired resolveDesired(const std::vector<FileResult>& files, LastGood& lastGood,
                       const std::map<std::string, DesiredPod>& recorded) {
  Desired out;
  // By key (specs::objectKey: "name", or "namespace/name" outside the default namespace).
  std::map<std::string, std::vector<DesiredPod>> pods;        // pod key -> declarations
  std::map<std::string, std::vector<DesiredSecret>> secrets;  // secret key -> declarations
  std::map<std::string, std::vector<DesiredConfigMap>> configMaps;
  std::map<std::string, std::vector<DesiredJob>> jobs;
  std::map<std::string, std::vector<DesiredCronJob>> cronJobs;
  std::set<std::string> present;
  for (const auto& f : files) {
    present.insert(f.file);
    out.skipped.insert(out.skipped.end(), f.parsed.skipped.begin(), f.parsed.skipped.end());
    FileGood good;
    if (f.parsed.ok()) {
      good = contentsOf(f);
      lastGood[f.file] = good;
    } else {
      out.errors.push_back({f.file, f.parsed.errors});
      auto it = lastGood.find(f.file);
      good = it != lastGood.end() ? it->second : recordedFrom(f.file, recorded);
    }
    for (auto& p : good.pods) pods[p.spec.key()].push_back(std::move(p));
    for (auto& s : good.secrets)
      secrets[specs::objectKey(s.secret.namespaceName, s.secret.name)].push_back(std::move(s));
    for (auto& c : good.configMaps) {
      std::string key = specs::objectKey(c.configMap.namespaceName, c.configMap.name);
      configMaps[key].push_back(std::move(c));
    }
    for (auto& j : good.jobs) jobs[j.job.key()].push_back(std::move(j));
    for (auto& c : good.cronJobs) cronJobs[c.cronJob.key()].push_back(std::move(c));
  }
  for (auto it = lastGood.begin(); it != lastGood.end();) {
    it = present.count(it->first) ? std::next(it) : lastGood.erase(it);
  }

  std::map<std::string, std::vector<specs::Diagnostic>> conflictErrors;
  for (auto& [name, decls] : pods) {
    if (decls.size() == 1) {
      out.pods.emplace(name, std::move(decls.front()));
      continue;
    }
    for (const auto& d : decls) {
      conflictErrors[d.sourceFile].push_back({d.sourceFile, 0, 0, "metadata.name",
                                              "pod \"" + name + "\" is also declared in " +
                                                  otherFiles(decls, d.sourceFile) +
                                                  "; neither declaration is applied"});
    }
    auto rec = recorded.find(name);
    if (rec != recorded.end()) out.pods.emplace(name, rec->second);  // keep what runs, unchanged
  }
  // Secrets, ConfigMaps, Jobs and CronJobs: a name declared twice is used from neither file.
  auto keepUnique = [&](auto& byName, auto& into, const char* kind) {
    for (auto& [name, decls] : byName) {
      if (decls.size() == 1) {
        into.emplace(name, std::move(decls.front()));
        continue;
      }
      for (const auto& d : decls) {
        conflictErrors[d.sourceFile].push_back(
            {d.sourceFile, 0, 0, "metadata.name",
             std::string(kind) + " \"" + name + "\" is also declared in " +
                 otherFiles(decls, d.sourceFile) + "; neither declaration is used"});
      }
    }
  };
  keepUnique(secrets, out.secrets, "secret");
  keepUnique(configMaps, out.configMaps, "configmap");
  keepUnique(jobs, out.jobs, "job");
  keepUnique(cronJobs, out.cronJobs, "cronjob");

  addErrors(out, conflictErrors);
  return out;
}

bool hasErrors(const std::vector<SpecError>& errors, const std::string& file) {
  for (const auto& e : errors) {
    if (e.file == file) return true;
  }
  return false;
}

bool Desired::fileHasErrors(const std::string& file) const { return hasErrors(errors, file); }

}  // namespace boxd::agent
