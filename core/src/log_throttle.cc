#include "flatcast/log_throttle.h"

namespace flatcast {

std::optional<uint64_t> LogThrottle::Admit(std::string_view key, TimePoint now) {
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) entries_.clear();
    entries_.emplace(std::string(key), Entry{now, 0});
    return uint64_t{0};
  }
  Entry& e = it->second;
  if (now - e.logged < interval_) {
    ++e.held;
    return std::nullopt;
  }
  uint64_t held = e.held;
  e = Entry{now, 0};
  return held;
}

void LogThrottle::Clear(std::string_view key) { entries_.erase(std::string(key)); }

}  // namespace flatcast
