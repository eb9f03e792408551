#include "bench/block_parse.h"

#include <cstdlib>

namespace boxd::bench {

int64_t adjtimexReadingUs(const std::string& out, int which) {
  size_t at = 0;
  int64_t us = -1;
  for (int i = 0; i <= which; ++i) {
    size_t s = out.find("time.tv_sec:", at);
    if (s == std::string::npos) return -1;
    size_t u = out.find("time.tv_usec:", s);
    if (u == std::string::npos) return -1;
    us = std::strtoll(out.c_str() + s + 12, nullptr, 10) * 1000000 +
         std::strtoll(out.c_str() + u + 13, nullptr, 10);
    at = u + 13;
  }
  return us;
}

double rbdBenchOpsPerSecond(const std::string& out) {
  size_t at = out.rfind("ops/sec:");
  return at == std::string::npos ? 0 : std::strtod(out.c_str() + at + 8, nullptr);
}

}  // namespace boxd::bench
