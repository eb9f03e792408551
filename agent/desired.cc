#include "agent/desired.h"

#include <set>

namespace boxd::agent {

namespace {

std::vector<DesiredPod> podsOf(const FileResult& f) {
  std::vector<DesiredPod> out;
  for (const auto& p : f.parsed.pods) out.push_back({p.spec, specs::specHash(p.spec), f.file});
  return out;
}

std::vector<DesiredPod> recordedFrom(const std::string& file,
                                     const std::map<std::string, DesiredPod>& recorded) {
  std::vector<DesiredPod> out;
  for (const auto& [name, pod] : recorded) {
    if (pod.sourceFile == file) out.push_back(pod);
  }
  return out;
}

}  // namespace

Desired resolveDesired(const std::vector<FileResult>& files, LastGood& lastGood,
                       const std::map<std::string, DesiredPod>& recorded) {
  Desired out;
  std::map<std::string, std::vector<DesiredPod>> candidates;  // pod name -> declarations
  std::set<std::string> present;
  for (const auto& f : files) {
    present.insert(f.file);
    std::vector<DesiredPod> pods;
    if (f.parsed.ok()) {
      pods = podsOf(f);
      lastGood[f.file] = pods;
    } else {
      out.errors.push_back({f.file, f.parsed.errors});
      auto it = lastGood.find(f.file);
      pods = it != lastGood.end() ? it->second : recordedFrom(f.file, recorded);
    }
    for (auto& p : pods) candidates[p.spec.name].push_back(std::move(p));
  }
  for (auto it = lastGood.begin(); it != lastGood.end();) {
    it = present.count(it->first) ? std::next(it) : lastGood.erase(it);
  }

  std::map<std::string, std::vector<specs::Diagnostic>> conflictErrors;
  for (auto& [name, decls] : candidates) {
    if (decls.size() == 1) {
      out.pods.emplace(name, std::move(decls.front()));
      continue;
    }
    for (const auto& d : decls) {
      std::string others;
      for (const auto& o : decls) {
        if (o.sourceFile != d.sourceFile) others += (others.empty() ? "" : ", ") + o.sourceFile;
      }
      conflictErrors[d.sourceFile].push_back({d.sourceFile, 0, 0, "metadata.name",
                                              "pod \"" + name + "\" is also declared in " + others +
                                                  "; neither declaration is applied"});
    }
    auto rec = recorded.find(name);
    if (rec != recorded.end()) out.pods.emplace(name, rec->second);  // keep what runs, unchanged
  }
  for (auto& [file, errs] : conflictErrors) {
    bool merged = false;
    for (auto& e : out.errors) {
      if (e.file == file) {
        e.errors.insert(e.errors.end(), errs.begin(), errs.end());
        merged = true;
      }
    }
    if (!merged) out.errors.push_back({file, std::move(errs)});
  }
  return out;
}

}  // namespace boxd::agent
