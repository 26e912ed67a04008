// Wall-clock time stamps shared by every benchmark process on the machine.
#pragma once

#include <time.h>

#include <cstdint>

namespace flatcast::bench::mqtt {

// CLOCK_REALTIME in microseconds since the epoch. Publisher, swarm and
// collector run on one machine, so their stamps can be subtracted.
inline int64_t RealtimeMicros() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

}  // namespace flatcast::bench::mqtt
