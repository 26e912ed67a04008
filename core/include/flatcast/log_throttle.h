// Repeated log lines, written at most once per interval: a client that
// retries a refused handshake every few seconds, or a registry file that
// stays broken, must not flood the journal. Not synchronised: one thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "flatcast/clock.h"

namespace flatcast {

class LogThrottle {
 public:
  // Each kind of line ("key") is written the first time, then at most once
  // per `interval`. At most `max_keys` kinds are remembered; beyond that the
  // memory is cleared, so a flood of distinct keys costs bounded memory.
  explicit LogThrottle(std::chrono::milliseconds interval, size_t max_keys = 10000)
      : interval_(interval), max_keys_(max_keys) {}

  // nullopt: hold this line back. Otherwise write it now; the value is the
  // number of lines of this key held back since it was last written.
  std::optional<uint64_t> Admit(std::string_view key, TimePoint now);

  // The condition behind `key` (or every key) has cleared: the next
  // occurrence is written at once.
  void Clear(std::string_view key);
  void ClearAll() { entries_.clear(); }

 private:
  struct Entry {
    TimePoint logged{};
    uint64_t held = 0;
  };
  std::chrono::milliseconds interval_;
  size_t max_keys_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace flatcast
