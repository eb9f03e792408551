#include "specs/nesting.h"

namespace boxd::specs::detail {
namespace {

constexpr size_t npos = std::string_view::npos;

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool endsToken(std::string_view t, size_t i) {
  return i >= t.size() || isBlank(t[i]) || t[i] == '\n';
}

class Scan {
 public:
  Scan(std::string_view t, int maxDepth) : t_(t), maxDepth_(maxDepth) {}

  size_t run() {
    while (i_ < t_.size()) {
      if (lineStart_ && !startLine()) continue;
      size_t at = i_;
      if (!step()) return at;
    }
    return npos;
  }

 private:
  // At the start of a line: skips it whole while it belongs to a block scalar. False when it did.
  bool startLine() {
    size_t indent = 0;
    while (i_ + indent < t_.size() && t_[i_ + indent] == ' ') ++indent;
    size_t j = i_ + indent;
    bool blank = j >= t_.size() || t_[j] == '\n' || t_[j] == '\r' || t_[j] == '\t';
    if (blockParent_ != npos && (blank || indent > blockParent_)) {
      skipLine();
      return false;
    }
    blockParent_ = npos;
    lineIndent_ = indent;
    i_ = j;
    lineStart_ = false;
    if (depth_ == 0) node_ = true;  // a block line may start a node (or continue a scalar)
    return true;
  }

  void skipLine() {
    while (i_ < t_.size() && t_[i_] != '\n') ++i_;
    if (i_ < t_.size()) ++i_;
    lineStart_ = true;
  }

  // Skips a quoted scalar starting at i_ (which may span lines).
  void skipQuoted() {
    char q = t_[i_++];
    while (i_ < t_.size()) {
      char c = t_[i_++];
      if (q == '"' && c == '\\') {
        ++i_;
      } else if (c == q) {
        if (q == '\'' && i_ < t_.size() && t_[i_] == '\'') {
          ++i_;  // '' is a quote inside a single-quoted scalar
          continue;
        }
        return;
      }
    }
  }

  // One character or token; false when it opens a level past the bound.
  bool step() {
    char c = t_[i_];
    if (c == '\n') {
      ++i_;
      lineStart_ = true;
      return true;
    }
    if (isBlank(c)) {
      ++i_;
      return true;
    }
    if (c == '#' && (i_ == 0 || isBlank(t_[i_ - 1]) || t_[i_ - 1] == '\n')) {
      skipLine();
      return true;
    }
    // Inside a flow collection any quote is taken to open a scalar: counting less is safe.
    if ((node_ || depth_ > 0) && (c == '"' || c == '\'')) {
      skipQuoted();
      node_ = false;
      return true;
    }
    if (node_ && (c == '&' || c == '!')) {  // an anchor or a tag: the node follows
      while (!endsToken(t_, i_)) ++i_;
      return true;
    }
    if ((c == '[' || c == '{') && (node_ || depth_ > 0)) {
      ++i_;
      node_ = true;
      return ++depth_ <= maxDepth_;
    }
    ++i_;
    if (depth_ > 0 && (c == ']' || c == '}')) {
      --depth_;
      node_ = false;
    } else if (depth_ > 0 && c == ',') {
      node_ = true;
    } else if (c == ':' && (endsToken(t_, i_) || (depth_ > 0 && isFlowIndicator(t_[i_])))) {
      node_ = true;
    } else if ((c == '-' || c == '?') && node_ && depth_ == 0 && endsToken(t_, i_)) {
      node_ = true;  // "- " or "? " in a block: a node follows
    } else if ((c == '|' || c == '>') && node_ && depth_ == 0) {
      blockParent_ = lineIndent_;  // a block scalar: its lines are text
      skipLine();
    } else if (c == '-' && node_ && t_.substr(i_ - 1, 3) == "---" && endsToken(t_, i_ + 2)) {
      i_ += 2;  // a document start: a node may follow on the same line
    } else {
      node_ = false;
    }
    return true;
  }

  static bool isFlowIndicator(char c) { return c == ',' || c == ']' || c == '}'; }

  std::string_view t_;
  int maxDepth_;
  size_t i_ = 0;
  int depth_ = 0;
  bool lineStart_ = true;
  bool node_ = true;  // a node may start here
  size_t lineIndent_ = 0;
  size_t blockParent_ = npos;  // inside a block scalar: lines indented more than this are text
};

}  // namespace

size_t excessiveFlowNesting(std::string_view text, int maxDepth) {
  return Scan(text, maxDepth).run();
}

}  // namespace boxd::specs::detail
