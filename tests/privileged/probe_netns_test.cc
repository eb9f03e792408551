// Network checks' sockets in a pod's network namespace (probe_check.h): NetnsSockets makes two
// in one visit and hands out the spare next, and every one belongs to the pod's namespace.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <iterator>
#include <thread>

#include "agent/probe_check.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71  // Linux 5.14
#endif

namespace boxd::agent {
namespace {

// The network namespace a socket belongs to (its cookie), 0 if unknown.
uint64_t netnsOf(int fd) {
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  return ::getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) == 0 ? cookie : 0;
}

uint64_t netnsOfNewSocket() {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return s ? netnsOf(s.get()) : 0;
}

long openFds() {
  return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                       std::filesystem::directory_iterator{});
}

// A network namespace of the test's own, held by its fd.
struct PodNetns {
  Fd fd;
  uint64_t cookie = 0;
  PodNetns() {
    std::thread t([this] {
      if (::unshare(CLONE_NEWNET) != 0) return;
      fd.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
      cookie = netnsOfNewSocket();
    });
    t.join();
  }
};

TEST(ProbeNetns, TwoSocketsPerVisitEveryOneInThePodsNamespace) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (unshare)";
  const uint64_t own = netnsOfNewSocket();
  if (own == 0) GTEST_SKIP() << "no SO_NETNS_COOKIE (kernel < 5.14)";
  PodNetns pod;
  ASSERT_TRUE(pod.fd.valid() && pod.cookie != 0) << "unshare(CLONE_NEWNET)";
  ASSERT_NE(pod.cookie, own);
  NetnsSockets sockets(pod.fd.get());
  // A visit makes two sockets (one kept), the next take() hands out the one kept. (The first
  // visit is not counted: the first use also opens boxd's own namespace, once.)
  auto first = sockets.take();
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(netnsOf(first->get()), pod.cookie);
  for (long made : {0, 2, 0, 2}) {
    long before = openFds();
    auto s = sockets.take();
    ASSERT_TRUE(s.ok()) << s.error().message;
    EXPECT_EQ(openFds() - before, made);
    EXPECT_EQ(netnsOf(s->get()), pod.cookie);
  }
  EXPECT_EQ(netnsOfNewSocket(), own) << "the thread is back in its own namespace";
}

TEST(ProbeNetns, WithoutANamespaceSocketsAreBoxdsOwn) {
  const uint64_t own = netnsOfNewSocket();
  NetnsSockets sockets(-1);
  auto a = sockets.take(), b = sockets.take();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->get(), b->get());
  EXPECT_EQ(netnsOf(a->get()), own);
  EXPECT_EQ(netnsOf(b->get()), own);
}

}  // namespace
}  // namespace boxd::agent
