// The pure parts of a grpc probe (grpc.health.v1.Health/Check, run by agent/grpc_check.cc): the
// request message, the response message, and what kubelet makes of a call's outcome.
//
// The two protobuf messages are a few bytes each and are encoded by hand:
//   HealthCheckRequest  { string service = 1; }          tag 0x0a, length varint, bytes
//   HealthCheckResponse { ServingStatus status = 1; }    tag 0x08, varint
// each inside gRPC's length-prefixed frame: 1 byte "compressed" flag, 4 bytes big-endian length.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace boxd::agent::grpc {

inline constexpr std::string_view kHealthCheckPath = "/grpc.health.v1.Health/Check";
inline constexpr int64_t kServing = 1;  // HealthCheckResponse.ServingStatus.SERVING

// gRPC status codes kubelet tells apart.
inline constexpr int kCodeUnknown = 2;
inline constexpr int kCodeDeadlineExceeded = 4;
inline constexpr int kCodeInternal = 13;
inline constexpr int kCodeUnimplemented = 12;
inline constexpr int kCodeUnavailable = 14;

// The length-prefixed HealthCheckRequest for service ("" = the server as a whole).
std::string healthCheckRequest(std::string_view service);

// The ServingStatus of a length-prefixed HealthCheckResponse (0, UNKNOWN, when the field is
// absent, as protobuf's default). 0 bytes of a message is an error here: the caller checks for an
// empty body before.
Result<int64_t> parseHealthCheckResponse(std::string_view body);

// "SERVING", "NOT_SERVING", ...; a value outside the enum as its number (as Go's String()).
std::string servingStatusName(int64_t status);
// "OK", "Unimplemented", ... as grpc-go names codes; others "Code(N)".
std::string codeName(int code);
// grpc-message is percent-encoded on the wire.
std::string percentDecode(std::string_view s);
// The code grpc-go gives a response that carries no grpc-status, from its HTTP status.
int codeFromHttpStatus(int httpStatus);

// What came back from one call, as seen from the HTTP/2 stream.
struct CallReply {
  int httpStatus = 0;             // :status, 0 when no response headers came
  std::optional<int> grpcStatus;  // grpc-status (trailers, or a trailers-only response)
  std::string grpcMessage;        // grpc-message, decoded
  std::string body;               // the DATA of the stream
  std::string streamError;        // set when the stream or connection ended without a status
};

struct ProbeOutcome {
  bool success = false;
  std::string output;
};

// kubelet's verdict and message for a completed call.
ProbeOutcome callOutcome(const CallReply& r);
// kubelet's messages when the deadline passed: before the connection was up, or during the call.
std::string connectTimeoutMessage(const std::string& addr, int64_t timeoutMs,
                                  const std::string& lastError);
std::string callTimeoutMessage(int64_t timeoutMs);
// "1s", "1.5s", "250ms", "1m30s": a Go duration as kubelet prints the timeout.
std::string goDuration(int64_t ms);

}  // namespace boxd::agent::grpc
