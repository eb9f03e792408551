// How diagnostics show text taken from a spec file. A file in the specs dir may hold anything (a
// stray copy of a host file, a credential), and messages reach `boxctl status` and boxd's log:
// they quote at most a short, printable piece of a key or value, never the whole of it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace boxd::specs {

// The most characters of a key or value a message shows; longer text ends in "...".
inline constexpr size_t kMaxQuotedChars = 40;

// s with control characters (C0, DEL, C1) and bidirectional overrides escaped (\n, \x1b,
// \u202e) and invalid UTF-8 bytes as \xNN; the rest as is. For whole messages and file names.
std::string escapeText(std::string_view s);
// The first kMaxQuotedChars characters of s (whole UTF-8 sequences), escaped as escapeText does
// and with '"' and '\' escaped too, then "..." if anything was left out.
std::string shownText(std::string_view s);
// shownText in double quotes: "web", "a-very-long-value-...". (Not "quoted": std::quoted would
// win by argument-dependent lookup.)
std::string inQuotes(std::string_view s);

}  // namespace boxd::specs
