#include "agent/env_expand.h"

namespace boxd::agent {

std::string expandVars(std::string_view in, const VarLookup& lookup) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '$' || i + 1 == in.size()) {
      out += in[i++];
      continue;
    }
    char next = in[i + 1];
    if (next == '$') {  // escaped
      out += '$';
      i += 2;
      continue;
    }
    if (next != '(') {  // not a reference: both characters as written
      out += '$';
      out += next;
      i += 2;
      continue;
    }
    size_t close = in.find(')', i + 2);
    if (close == std::string_view::npos) {  // unterminated: "$(" as written, the rest scanned on
      out += "$(";
      i += 2;
      continue;
    }
    std::string name(in.substr(i + 2, close - i - 2));
    std::optional<std::string> value = name.empty() ? std::nullopt : lookup(name);
    out += value ? *value : "$(" + name + ")";
    i = close + 1;
  }
  return out;
}

}  // namespace boxd::agent
