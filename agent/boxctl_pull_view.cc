#include "agent/boxctl_pull_view.h"

#include "agent/boxctl_format.h"

namespace boxd::agent {

using nlohmann::json;

namespace {
std::string shortDigest(const std::string& d) {
  return d.size() > 7 ? d.substr(7, 12) : d;  // "sha256:" then 12 hex
}
}  // namespace

std::string PullView::rowText(const std::string& digest, const Row& r) const {
  std::string text = shortDigest(digest) + ": " + r.state;
  if (r.state == "Downloading" || r.state == "Verifying")
    text += "  " + formatBytes(r.done) + " / " + formatBytes(r.size);
  else if (r.state == "Waiting" || r.state == "Already exists" || r.state == "Pull complete" ||
           r.state == "Download complete")
    text += " (" + formatBytes(r.size) + ")";
  return text;
}

std::string PullView::feed(const json& line) {
  if (!line.is_object() || line.value("type", "") != "LAYER") return "";
  const std::string digest = line.value("digest", "");
  if (digest.empty()) return "";
  auto [it, added] = rows_.try_emplace(digest);
  if (added) order_.push_back(digest);
  Row& r = it->second;
  r.state = line.value("state", "");
  r.done = line.value("done", int64_t{0});
  r.size = line.value("size", int64_t{0});
  if (!tty_) {
    if (r.state == r.shown) return "";
    r.shown = r.state;
    return rowText(digest, r) + "\n";
  }
  // Up over the rows drawn before, then every row again (a new one is added at the bottom).
  std::string out;
  if (drawn_ > 0) out += "\033[" + std::to_string(drawn_) + "A";
  for (const auto& d : order_) out += "\r\033[K" + rowText(d, rows_[d]) + "\n";
  drawn_ = order_.size();
  return out;
}

}  // namespace boxd::agent
