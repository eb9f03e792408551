// What a container runs from its spec over its image's config: the Kubernetes command/args
// table, Env merged under env, WorkingDir, User (and securityContext over it), the user resolved
// in the rootfs without leaving it; images without config keep boxd's earlier behaviour.
#include "agent/image_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "agent/security_context.h"
#include "common/util.h"
#include "reconcilers/images/image_user.h"
#include "specs/parse.h"
#include "tests/support/pod_spec.h"
#include "tests/support/temp_dir.h"

namespace boxd::agent {
namespace {

using nlohmann::json;
using Args = std::vector<std::string>;

// A pod of one container "c" (image "app") with the container's further lines.
specs::PodSpec parse(const std::string& container) {
  return testing::parsePod("  containers:\n  - name: c\n    image: app\n" + container);
}

const json kImage = {{"config",
                      {{"Entrypoint", {"/entry", "-e"}},
                       {"Cmd", {"serve", "--port=80"}},
                       {"Env", {"PATH=/app/bin:/bin", "MODE=image", "ONLY_IMAGE=1"}},
                       {"WorkingDir", "/app"},
                       {"User", "app:staff"}}}};

Result<ProcessConfig> run(const std::string& container, const json& image = kImage) {
  auto pod = parse(container);
  if (pod.containers.empty()) return makeError("no container");
  return effectiveProcess(pod, pod.containers[0], image);
}

TEST(ImageConfig, TheKubernetesCommandAndArgsTable) {
  EXPECT_EQ(run("")->argv, (Args{"/entry", "-e", "serve", "--port=80"}));
  EXPECT_EQ(run("    command: [/bin/other]\n")->argv, (Args{"/bin/other"}));  // Cmd ignored
  EXPECT_EQ(run("    args: [x, z]\n")->argv, (Args{"/entry", "-e", "x", "z"}));
  EXPECT_EQ(run("    command: [/c]\n    args: [a]\n")->argv, (Args{"/c", "a"}));
  const json cmdOnly = {{"config", {{"Cmd", {"/bin/sh", "-c", "true"}}}}};
  EXPECT_EQ(run("", cmdOnly)->argv, (Args{"/bin/sh", "-c", "true"}));
  EXPECT_EQ(run("    args: [echo]\n", cmdOnly)->argv, (Args{"echo"}));  // no Entrypoint
  auto nothing = run("", json{{"config", json::object()}});
  ASSERT_FALSE(nothing.ok());
  EXPECT_NE(nothing.error().message.find("no command specified"), std::string::npos);
}

TEST(ImageConfig, EnvOfTheImageUnderTheContainers) {
  auto p = run("    env:\n    - {name: MODE, value: pod}\n    - {name: EXTRA, value: e}\n");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->env,
            (Args{"PATH=/app/bin:/bin", "MODE=pod", "ONLY_IMAGE=1", "HOSTNAME=p", "EXTRA=e"}));
  auto noPath = run("", json{{"config", {{"Cmd", {"x"}}}}});
  EXPECT_EQ(noPath->env, (Args{std::string("PATH=") + kDefaultPath, "HOSTNAME=p"}));
}

TEST(ImageConfig, WorkingDirAndUser) {
  EXPECT_EQ(run("")->cwd, "/app");
  EXPECT_EQ(run("    workingDir: /srv\n")->cwd, "/srv");
  EXPECT_EQ(run("")->user, "app:staff");
  EXPECT_EQ(run("    securityContext: {runAsUser: 5}\n")->user, "");  // runAsUser wins
  EXPECT_EQ(run("    securityContext: {runAsGroup: 5}\n")->user, "app:staff");
}

TEST(ImageConfig, ImagesWithoutConfigRunAsBefore) {
  auto p = run("    env: [{name: A, value: b}]\n", nullptr);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->argv, (Args{"/bin/sh"}));
  EXPECT_EQ(p->env, (Args{"HOSTNAME=p", "A=b"}));
  EXPECT_EQ(p->cwd, "/");
  EXPECT_EQ(p->user, "");
  EXPECT_EQ(run("    command: [/x]\n    args: [z]\n", nullptr)->argv, (Args{"/x", "z"}));
}

TEST(ImageConfig, RunAsNonRootWithAnImageUser) {
  auto pod = parse("    securityContext: {runAsNonRoot: true}\n");
  auto numeric = resolveSecurity(pod, pod.containers[0], "1000:1000");
  ASSERT_TRUE(numeric.ok()) << numeric.error().message;
  EXPECT_EQ(numeric->uid, 1000u);
  auto byName = resolveSecurity(pod, pod.containers[0], "app");
  ASSERT_FALSE(byName.ok());
  EXPECT_NE(byName.error().message.find("is a name, so it cannot be verified"), std::string::npos);
  EXPECT_FALSE(resolveSecurity(pod, pod.containers[0], "0").ok());
}

class ImageUserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mkdirAll(dir / "root/etc").ok());
    ASSERT_TRUE(writeFileAtomic(dir / "root/etc/passwd",
                                "root:x:0:0:root:/root:/bin/sh\n"
                                "app:x:1000:1001::/app:/bin/sh\n")
                    .ok());
    ASSERT_TRUE(writeFileAtomic(dir / "root/etc/group",
                                "root:x:0:\nstaff:x:50:\napp:x:1001:\nwheel:x:10:root,app\n")
                    .ok());
  }
  Result<reconcilers::ResolvedUser> resolve(const std::string& user) {
    return reconcilers::resolveImageUser(dir / "root", user);
  }
  boxd::testing::TempDir dir{"img-user"};
};

TEST_F(ImageUserTest, NamesAndNumbersAsRuncResolvesThem) {
  auto app = resolve("app");
  ASSERT_TRUE(app.ok()) << app.error().message;
  EXPECT_EQ(app->uid, 1000u);
  EXPECT_EQ(app->gid, 1001u);
  EXPECT_EQ(app->groups, std::vector<uint32_t>{10});
  EXPECT_EQ(resolve("app:staff")->gid, 50u);
  EXPECT_EQ(resolve("1000")->gid, 1001u);  // a listed uid gets its passwd group
  EXPECT_EQ(resolve("4242")->uid, 4242u);
  EXPECT_EQ(resolve("4242")->gid, 0u);
  EXPECT_EQ(resolve("4242:7")->gid, 7u);
  auto missing = resolve("nobody");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("no such user in the image's /etc/passwd"),
            std::string::npos);
  EXPECT_FALSE(resolve("app:nogroup").ok());
}

TEST_F(ImageUserTest, SymlinksResolveInsideTheRootfsNeverOnTheHost) {
  // /etc/passwd -> /etc/real-passwd: read as <root>/etc/real-passwd, not the host's file.
  ASSERT_TRUE(writeFileAtomic(dir / "root/etc/real-passwd", "svc:x:77:77::/:/bin/sh\n").ok());
  ASSERT_EQ(::unlink((dir / "root/etc/passwd").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/real-passwd", (dir / "root/etc/passwd").c_str()), 0);
  EXPECT_EQ(resolve("svc")->uid, 77u);
  // ../../../../etc/group stays beneath the rootfs' root: the host's file is never read, so
  // the host's root user is not found.
  ASSERT_EQ(::unlink((dir / "root/etc/passwd").c_str()), 0);
  ASSERT_EQ(::symlink("../../../../../../../etc/host-passwd", (dir / "root/etc/passwd").c_str()),
            0);
  auto root = resolve("root");
  ASSERT_FALSE(root.ok());
  EXPECT_NE(root.error().message.find("no such user"), std::string::npos) << root.error().message;
}

}  // namespace
}  // namespace boxd::agent
