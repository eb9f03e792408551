// A grpc probe: one grpc.health.v1.Health/Check call over HTTP/2 cleartext (prior knowledge) to
// the pod's IP, on the libuv loop.
//
//   socket (in the pod's netns) → TCP connect → client preface + SETTINGS, HEADERS, DATA →
//   server SETTINGS ("connected") → response HEADERS, DATA, trailers → verdict (grpc_health.h)
//
// libnghttp2 does the HTTP/2 framing and HPACK only: it owns no socket, thread or timer; boxd
// feeds it the bytes read on the loop and writes what it hands back. A failed connect (refused,
// or a peer that is not HTTP/2) is retried until the deadline, as kubelet's blocking dial does.
// timeoutSeconds bounds the whole call.
#pragma once

#include <uv.h>

#include <memory>

#include "agent/probe_check.h"

namespace boxd::agent {

std::unique_ptr<Check> startGrpcCheck(uv_loop_t* loop, const specs::GrpcAction& action,
                                      const CheckTarget& target, int64_t timeoutMs, CheckDone done);

}  // namespace boxd::agent
