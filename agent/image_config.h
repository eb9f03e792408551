// What a container runs, from its spec over its image's config, with Kubernetes' semantics
// (docs/images.md). Pure: unit-tested without root.
//
//   command  args   argv
//   -        -      image Entrypoint + image Cmd
//   set      -      command                    (the image's Entrypoint and Cmd are ignored)
//   -        set    image Entrypoint + args
//   set      set    command + args
//   env      the image's Env, then HOSTNAME, then the container's env (same name: the container's
//            value wins, at the image's position); PATH defaults as in containerd when neither has
//            it
//   cwd      workingDir, else the image's WorkingDir, else /
//   user     the image's User ("name", "uid", "name:group", "uid:gid"), resolved at start in the
//            container's /etc/passwd and /etc/group (reconcilers/images/image_user.h), unless
//            securityContext sets runAsUser (runAsGroup alone replaces only the group)
// An image without config (a rootfs import) runs as before: command + args, or /bin/sh.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "reconcilers/sandbox/shim_protocol.h"
#include "agent/config_refs.h"
#include "specs/pod.h"

namespace boxd::agent {

struct ProcessConfig {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // NAME=value
  std::string cwd;
  std::string user;  // the image's User when it applies (runAsUser unset); empty: none
};

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// own: what the container's spec resolved to (config_refs.h: env with valueFrom and envFrom,
// command and args with $(VAR) expanded); imageConfig: the image config blob (null for a rootfs
// import). Fails when neither the container nor the image says what to run.
Result<ProcessConfig> effectiveProcess(const specs::PodSpec& pod, const specs::Container& c,
                                       const ContainerConfig& own,
                                       const nlohmann::json& imageConfig);
// The same with the container's env and command as written (literal values, no $(VAR)): what
// describe shows of a container that has not started.
Result<ProcessConfig> effectiveProcess(const specs::PodSpec& pod, const specs::Container& c,
                                       const nlohmann::json& imageConfig);

// Whether securityContext sets the group (the image user then sets only uid and groups).
bool runAsGroupSet(const specs::PodSpec& pod, const specs::Container& c);

// Resolves the image user in the container's mounted rootfs (reads its /etc/passwd and
// /etc/group safely: image_user.h) into s: uid, gid unless keepGid, supplementary groups added.
// Blocking: from a worker thread.
Status applyImageUser(const std::string& rootfs, const std::string& user, bool keepGid,
                      reconcilers::ContainerSecurity& s);

}  // namespace boxd::agent
