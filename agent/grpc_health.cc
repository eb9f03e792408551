// grpc.health.v1 messages and kubelet's reading of a call (grpc_health.h).
#include "agent/grpc_health.h"

#include <array>

namespace boxd::agent::grpc {

namespace {

constexpr size_t kPrefix = 5;  // compressed flag + 4-byte big-endian length

void putVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Reads a varint at pos; false when it runs past the end or over 10 bytes.
bool getVarint(std::string_view s, size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 70 && pos < s.size(); shift += 7) {
    auto b = static_cast<unsigned char>(s[pos++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// Skips one field's value of wire type wt; false when the message is malformed.
bool skipField(std::string_view s, size_t& pos, uint64_t wt) {
  uint64_t n = 0;
  switch (wt) {
    case 0:
      return getVarint(s, pos, n);
    case 1:
      n = 8;
      break;
    case 2:
      if (!getVarint(s, pos, n)) return false;
      break;
    case 5:
      n = 4;
      break;
    default:
      return false;  // groups (3, 4) are not in these messages
  }
  if (n > s.size() - pos) return false;
  pos += n;
  return true;
}

std::string rpcError(int code, const std::string& desc) {
  return "rpc error: code = " + codeName(code) + " desc = " + desc;
}

}  // namespace

std::string healthCheckRequest(std::string_view service) {
  std::string msg;
  if (!service.empty()) {  // proto3: a default value is not sent
    msg.push_back(0x0a);   // field 1, wire type 2 (length-delimited)
    putVarint(msg, service.size());
    msg.append(service);
  }
  std::string out(kPrefix, '\0');
  auto len = static_cast<uint32_t>(msg.size());
  for (int i = 0; i < 4; ++i) out[1 + i] = static_cast<char>((len >> (8 * (3 - i))) & 0xff);
  return out + msg;
}

Result<int64_t> parseHealthCheckResponse(std::string_view body) {
  if (body.size() < kPrefix) return makeError("response message is truncated");
  if (body[0] != 0)
    return makeError("response message is compressed (boxd asked for no compression)");
  uint32_t len = 0;
  for (size_t i = 1; i < kPrefix; ++i) len = (len << 8) | static_cast<unsigned char>(body[i]);
  if (len != body.size() - kPrefix)
    return makeError("response message length " + std::to_string(len) + " does not match the " +
                     std::to_string(body.size() - kPrefix) + " bytes received");
  std::string_view msg = body.substr(kPrefix);
  int64_t status = 0;
  size_t pos = 0;
  while (pos < msg.size()) {
    uint64_t key = 0;
    if (!getVarint(msg, pos, key)) return makeError("response message is not protobuf");
    if (key == 0x08) {  // field 1, varint
      uint64_t v = 0;
      if (!getVarint(msg, pos, v)) return makeError("response message is not protobuf");
      status = static_cast<int32_t>(v);  // an enum is an int32 on the wire
    } else if (!skipField(msg, pos, key & 7)) {
      return makeError("response message is not protobuf");
    }
  }
  return status;
}

std::string servingStatusName(int64_t status) {
  constexpr std::array<const char*, 4> kNames = {"UNKNOWN", "SERVING", "NOT_SERVING",
                                                 "SERVICE_UNKNOWN"};
  if (status >= 0 && status < static_cast<int64_t>(kNames.size()))
    return kNames[static_cast<size_t>(status)];
  return std::to_string(status);
}

std::string codeName(int code) {
  constexpr std::array<const char*, 17> kNames = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  if (code >= 0 && code < static_cast<int>(kNames.size())) return kNames[static_cast<size_t>(code)];
  return "Code(" + std::to_string(code) + ")";
}

std::string percentDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

int codeFromHttpStatus(int httpStatus) {
  switch (httpStatus) {
    case 400:
      return kCodeInternal;
    case 401:
      return 16;  // Unauthenticated
    case 403:
      return 7;  // PermissionDenied
    case 404:
      return kCodeUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return kCodeUnavailable;
    default:
      return kCodeUnknown;
  }
}

ProbeOutcome callOutcome(const CallReply& r) {
  auto failed = [](int code, const std::string& desc) -> ProbeOutcome {
    if (code == kCodeUnimplemented)
      return {false,
              "error: this server does not implement the grpc health protocol "
              "(grpc.health.v1.Health): " +
                  rpcError(code, desc)};
    return {false, "error: health rpc probe failed: " + rpcError(code, desc)};
  };
  if (!r.grpcStatus) {
    if (r.httpStatus != 0 && r.httpStatus != 200)
      return failed(
          codeFromHttpStatus(r.httpStatus),
          "unexpected HTTP status code received from server: " + std::to_string(r.httpStatus));
    return failed(kCodeUnavailable,
                  r.streamError.empty() ? "the server sent no grpc-status" : r.streamError);
  }
  if (*r.grpcStatus != 0) return failed(*r.grpcStatus, r.grpcMessage);
  if (r.body.empty()) return failed(kCodeInternal, "the server sent no response message");
  Result<int64_t> status = parseHealthCheckResponse(r.body);
  if (!status.ok()) return failed(kCodeInternal, status.error().message);
  if (*status != kServing)
    return {false, "service unhealthy (responded with \"" + servingStatusName(*status) + "\")"};
  return {true, "service healthy"};
}

std::string goDuration(int64_t ms) {
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out;
  if (ms >= 3600000) out += std::to_string(ms / 3600000) + "h";
  if (ms >= 60000) out += std::to_string(ms / 60000 % 60) + "m";
  int64_t sec = ms % 60000;
  out += std::to_string(sec / 1000);
  if (int64_t frac = sec % 1000; frac != 0) {
    std::string f = std::to_string(1000 + frac).substr(1);  // 3 digits
    while (f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + "s";
}

std::string connectTimeoutMessage(const std::string& addr, int64_t timeoutMs,
                                  const std::string& lastError) {
  return "timeout: failed to connect service \"" + addr + "\" within " + goDuration(timeoutMs) +
         ": " + (lastError.empty() ? "context deadline exceeded" : lastError);
}

std::string callTimeoutMessage(int64_t timeoutMs) {
  return "timeout: health rpc did not complete within " + goDuration(timeoutMs);
}

}  // namespace boxd::agent::grpc
