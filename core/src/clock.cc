#include "flatcast/clock.h"

namespace flatcast {

SystemClock& SystemClock::Instance() {
  // A function-local static: initialised on first use, never destroyed before
  // code that runs during static destruction is done with it.
  static SystemClock* const instance = new SystemClock();
  return *instance;
}

}  // namespace flatcast
