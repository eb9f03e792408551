// A bound on YAML nesting checked on the raw text, before yaml-cpp sees it. yaml-cpp's scanner
// reads a whole flow collection ("[...]", "{...}") ahead before it emits the first event, holding
// a token for every indicator: 4 MiB of "[" took seconds and near 1 GB before its own depth guard
// (500 levels) fired. This scan costs one pass over the bytes and no allocation. Internal to
// specs/.
#pragma once

#include <cstddef>
#include <string_view>

namespace boxd::specs::detail {

// Deeper nesting than this is refused. A Pod nests about 10 levels deep; the schema has nothing
// near 64, so no valid spec comes close.
inline constexpr int kMaxNestingDepth = 64;

// The offset of the '[' or '{' that opens flow level maxDepth + 1, or npos. It counts only what
// can start a flow collection (a node position, or inside one), skipping comments, quoted
// scalars, anchors, tags and block scalars ("|", ">"), so brackets inside text do not count.
// When in doubt it counts less, never more: the parser's own guards still apply.
size_t excessiveFlowNesting(std::string_view text, int maxDepth = kMaxNestingDepth);

}  // namespace boxd::specs::detail
