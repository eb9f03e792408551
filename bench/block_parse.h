// What the block bench reads from its peers' output: busybox adjtimex's clock readings (the
// container's dd is bracketed by two of them) and `rbd bench`'s ops/sec.
#pragma once

#include <cstdint>
#include <string>

namespace boxd::bench {

// The `which`-th (0-based) "time.tv_sec: S" / "time.tv_usec: U" pair in out, in µs; -1 if
// there is none.
int64_t adjtimexReadingUs(const std::string& out, int which);

// The number after the last "ops/sec:" ("elapsed: 0   ops: 256   ops/sec: 1046.7   bytes/sec:
// 1.0 GiB/s"); 0 if there is none.
double rbdBenchOpsPerSecond(const std::string& out);

}  // namespace boxd::bench
