// When a terminal with a warm standby connection switches (WarmSwitch), on
// time points made up by the test.
#include "flatcast/subscriber/warm_switch.h"

#include <gtest/gtest.h>

namespace flatcast::subscriber {
namespace {

using namespace std::chrono_literals;
using Action = WarmSwitch::Action;
using Seen = WarmSwitch::Seen;

class WarmSwitchTest : public ::testing::Test {
 protected:
  WarmSwitch::Steady::time_point t0_{std::chrono::hours(1)};
  std::minstd_rand jitter_{7};
};

TEST_F(WarmSwitchTest, AConnectionDownForLessThanASecondDoesNotSwitch) {
  WarmSwitch sw(t0_);
  sw.Up(t0_);
  sw.Down(t0_ + 1s);
  EXPECT_EQ(sw.Decide(t0_ + 1900ms, Seen{.up = false, .warm_up = true}, jitter_), Action::kNone);
  EXPECT_EQ(sw.Decide(t0_ + 2s, Seen{.up = false, .warm_up = true}, jitter_), Action::kSwitch);
}

TEST_F(WarmSwitchTest, ALostConnectionWaitsForTheWarmOneToBeUp) {
  WarmSwitch sw(t0_);
  EXPECT_EQ(sw.Decide(t0_ + 5s, Seen{.up = false, .warm_up = false}, jitter_), Action::kNone);
  EXPECT_EQ(sw.Decide(t0_ + 6s, Seen{.up = false, .warm_up = true}, jitter_), Action::kSwitch);
}

TEST_F(WarmSwitchTest, NamingTheOtherSwitchesAtOnce) {
  WarmSwitch sw(t0_);
  sw.Up(t0_);
  EXPECT_EQ(sw.Decide(t0_ + 10ms, Seen{.up = true, .warm_up = true}, jitter_), Action::kNone);
  sw.NamedTheOther();
  EXPECT_EQ(sw.Decide(t0_ + 20ms, Seen{.up = true, .warm_up = true}, jitter_), Action::kSwitch);
}

TEST_F(WarmSwitchTest, NamedTheOtherWhileItIsDownAsksAgainWithinOneAndAHalfSeconds) {
  WarmSwitch sw(t0_);
  sw.Up(t0_);
  sw.NamedTheOther();
  const Seen here{.up = true, .warm_up = false};
  EXPECT_EQ(sw.Decide(t0_ + 1ms, here, jitter_), Action::kNone);
  EXPECT_EQ(sw.Decide(t0_ + 400ms, here, jitter_), Action::kNone) << "not before 0.5 s";
  EXPECT_EQ(sw.Decide(t0_ + 1502ms, here, jitter_), Action::kAskAgain);
  EXPECT_EQ(sw.Decide(t0_ + 1600ms, here, jitter_), Action::kNone) << "asked once";
  // The warm connection coming up later does not switch on the stale name.
  EXPECT_EQ(sw.Decide(t0_ + 2s, Seen{.up = true, .warm_up = true}, jitter_), Action::kNone);
}

TEST_F(WarmSwitchTest, ASilentConnectionSwitches) {
  WarmSwitch sw(t0_);
  sw.Up(t0_);
  EXPECT_EQ(sw.Decide(t0_ + 1s, Seen{.up = true, .warm_up = true, .welcomed = true}, jitter_),
            Action::kNone);
  EXPECT_EQ(sw.Decide(t0_ + 1s,
                      Seen{.up = true, .warm_up = true, .welcomed = true, .silent = true},
                      jitter_),
            Action::kSwitch);
}

TEST_F(WarmSwitchTest, UpButNotWelcomedForTenSecondsSwitchesUnlessRefused) {
  WarmSwitch sw(t0_);
  sw.Up(t0_);
  const Seen waiting{.up = true, .warm_up = true};
  EXPECT_EQ(sw.Decide(t0_ + 9s, waiting, jitter_), Action::kNone);
  EXPECT_EQ(sw.Decide(t0_ + 10s, Seen{.up = true, .warm_up = true, .rejected = true}, jitter_),
            Action::kNone) << "a refused unit is refused by either broker";
  EXPECT_EQ(sw.Decide(t0_ + 10s, waiting, jitter_), Action::kSwitch);
}

TEST_F(WarmSwitchTest, AfterASwitchTheNextWaitsHalfASecondToOneAndAHalf) {
  WarmSwitch sw(t0_);
  sw.Up(t0_);
  sw.NamedTheOther();
  ASSERT_EQ(sw.Decide(t0_, Seen{.up = true, .warm_up = true}, jitter_), Action::kSwitch);
  sw.Switched(t0_, jitter_);
  sw.Up(t0_ + 10ms);
  sw.NamedTheOther();  // turned away by the other too: an election under way
  const Seen both{.up = true, .warm_up = true};
  EXPECT_EQ(sw.Decide(t0_ + 499ms, both, jitter_), Action::kNone);
  EXPECT_EQ(sw.Decide(t0_ + 1501ms, both, jitter_), Action::kSwitch);
}

TEST_F(WarmSwitchTest, ASwitchedConnectionNotUpWithinASecondSwitchesBack) {
  WarmSwitch sw(t0_);
  sw.Up(t0_);
  sw.Switched(t0_ + 1s, jitter_);
  const Seen down{.up = false, .warm_up = true};
  EXPECT_EQ(sw.Decide(t0_ + 1900ms, down, jitter_), Action::kNone);
  EXPECT_EQ(sw.Decide(t0_ + 2600ms, down, jitter_), Action::kSwitch);
}

}  // namespace
}  // namespace flatcast::subscriber
