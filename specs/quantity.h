// Kubernetes resource quantities ("500m", "0.5", "64Mi", "1e6") → exact integers.
//
// Grammar (as Kubernetes' resource.Quantity): [+-]digits[.digits][suffix], where suffix is one of
// the binary units Ki Mi Gi Ti Pi Ei, the decimal units n u m k M G T P E, or an exponent e<int> /
// E<int>. Values are computed exactly (no floating point). boxd is stricter than Kubernetes in two
// ways, both reported as errors rather than silently rounded: cpu finer than 1m and memory
// finer than one byte. Negative values and values above INT64_MAX are errors too.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/result.h"

namespace boxd::specs {

// cpu → millicores: "500m" → 500, "0.5" → 500, "2" → 2000.
Result<int64_t> parseCpuMilli(std::string_view text);
// memory → bytes: "64Mi" → 67108864, "128M" → 128000000, "1e6" → 1000000.
Result<int64_t> parseMemoryBytes(std::string_view text);

}  // namespace boxd::specs
