// The monotonic clock, for what must not move with the wall clock: a
// leader's lease (ha/leadership.h) is measured on it. Code takes a
// SteadyClock& so tests can move it by hand.
#pragma once

#include <chrono>
#include <mutex>

namespace flatcast {

using SteadyTime = std::chrono::steady_clock::time_point;

class SteadyClock {
 public:
  virtual ~SteadyClock() = default;
  virtual SteadyTime Now() const = 0;
};

class SystemSteadyClock final : public SteadyClock {
 public:
  SteadyTime Now() const override { return std::chrono::steady_clock::now(); }
  // A process-wide instance.
  static SystemSteadyClock& Instance() {
    static SystemSteadyClock* const instance = new SystemSteadyClock();
    return *instance;
  }
};

// A steady clock that moves only when told. Thread-safe.
class FakeSteadyClock final : public SteadyClock {
 public:
  SteadyTime Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void Advance(std::chrono::microseconds d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  SteadyTime now_{std::chrono::hours(1)};  // guarded by mu_
};

}  // namespace flatcast
