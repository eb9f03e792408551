// What `boxctl image pull REF` prints while boxd pulls into its store: the lines boxd streams
// (agent/pull_progress.h) as text. On a terminal, one row per layer, redrawn in place as
// `docker pull` does ("<12 hex>: Downloading  1.2MiB / 6.0MiB", "<12 hex>: Pull complete");
// otherwise plain lines, one per layer state change (byte progress is not repeated), never a
// carriage return or escape sequence. Pure (text in, text out), so it is unit-tested.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace boxd::agent {

class PullView {
 public:
  explicit PullView(bool tty) : tty_(tty) {}
  // Text to print now for one LAYER line (may be empty).
  std::string feed(const nlohmann::json& line);

 private:
  struct Row {
    std::string state;
    int64_t done = 0, size = 0;
    std::string shown;  // plain: the state last printed
  };
  std::string rowText(const std::string& digest, const Row& r) const;
  bool tty_;
  std::map<std::string, Row> rows_;
  std::vector<std::string> order_;
  size_t drawn_ = 0;
};

}  // namespace boxd::agent
