#include "flatcast/subscriber/warm_switch.h"

namespace flatcast::subscriber {

WarmSwitch::Action WarmSwitch::Decide(Steady::time_point now, const Seen& seen,
                                      std::minstd_rand& jitter) {
  const bool lost = !seen.up && lost_at_ && now - *lost_at_ >= kLostGrace;
  const bool unanswered =
      seen.up && !seen.welcomed && !seen.rejected && now - up_at_ >= kUnanswered;
  if ((wanted_ || seen.silent || lost || unanswered) && seen.warm_up && now >= next_switch_) {
    return Action::kSwitch;
  }
  if (wanted_ && !seen.warm_up) {
    wanted_ = false;
    ask_again_at_ = now + Pause(jitter);
  }
  if (ask_again_at_ && now >= *ask_again_at_) {
    ask_again_at_.reset();
    return Action::kAskAgain;
  }
  return Action::kNone;
}

void WarmSwitch::Switched(Steady::time_point now, std::minstd_rand& jitter) {
  wanted_ = false;
  ask_again_at_.reset();
  lost_at_ = now;
  up_at_ = now;
  next_switch_ = now + Pause(jitter);
}

}  // namespace flatcast::subscriber
