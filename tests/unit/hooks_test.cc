// The terminal's hooks (hooks.h): a command run without a shell with the
// event on its standard input and FLATCAST_* variables, killed at its
// timeout, its output kept to 4 KiB; on a thread of its own, so posting
// never waits for a hook.
#include "flatcast/subscriber/hooks.h"

#include "temp_dir.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <thread>
#include <filesystem>

namespace flatcast::subscriber {
namespace {

using namespace std::chrono_literals;

HookConfig Hook(std::vector<std::string> command, std::chrono::seconds timeout = 10s) {
  return HookConfig{"directive", std::move(command), timeout};
}
HookEvent Event(std::string input = "{\"id\": \"52-HEALTH-20261207-0001\"}\n") {
  return HookEvent{"directive", "52-HEALTH-20261207-0001 v1", std::move(input),
                   {{"FLATCAST_UNIT", "520102016001"}, {"FLATCAST_DIRECTIVE_ID", "52-HEALTH-20261207-0001"}}};
}

TEST(Hooks, TheEventIsOnStandardInputWithItsVariablesAndNothingElseOfTheEnvironment) {
  HookOutcome o = RunHook(Hook({"/bin/cat"}), Event());
  ASSERT_TRUE(o.started) << o.error;
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_EQ(o.output, "{\"id\": \"52-HEALTH-20261207-0001\"}\n");
  setenv("FLATCAST_SECRET_OF_THE_DAEMON", "x", 1);
  o = RunHook(Hook({"/bin/sh", "-c", "echo $FLATCAST_EVENT $FLATCAST_UNIT $FLATCAST_DIRECTIVE_ID "
                                     "[$FLATCAST_SECRET_OF_THE_DAEMON] [$HOME]"}),
              Event());
  EXPECT_EQ(o.output, "directive 520102016001 52-HEALTH-20261207-0001 [] []\n");
}

TEST(Hooks, AFailingHookReportsItsStatusAndOutput) {
  HookOutcome o = RunHook(Hook({"/bin/sh", "-c", "echo cannot reach the loudspeaker >&2; exit 3"}),
                          Event());
  ASSERT_TRUE(o.started);
  EXPECT_FALSE(o.timed_out);
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.output, "cannot reach the loudspeaker\n");
  HookOutcome missing = RunHook(Hook({"/no/such/program"}), Event());
  EXPECT_FALSE(missing.started);
  EXPECT_FALSE(missing.error.empty());
}

TEST(Hooks, AHangingHookIsKilledAtItsTimeoutAndAFloodIsCutAt4KiB) {
  HookOutcome hang = RunHook(Hook({"/bin/sleep", "60"}, 1s), Event());
  ASSERT_TRUE(hang.started);
  EXPECT_TRUE(hang.timed_out);
  EXPECT_LT(hang.seconds, 30) << "killed, not waited for";
  HookOutcome flood = RunHook(Hook({"/usr/bin/yes"}, 1s), Event());
  ASSERT_TRUE(flood.started);
  EXPECT_TRUE(flood.timed_out);
  EXPECT_EQ(flood.output.size(), kMaxHookOutput);
  EXPECT_GT(flood.dropped, 0u);
  // A hook that never reads its input still ends.
  HookOutcome deaf = RunHook(Hook({"/bin/true"}), Event(std::string(1 << 20, 'x')));
  EXPECT_TRUE(deaf.started);
  EXPECT_FALSE(deaf.timed_out);
}

TEST(Hooks, WhatAHookLeavesInTheBackgroundNeitherHoldsItUpNorKeepsTheDaemonsDescriptors) {
  // Exits at once, its background child keeping the output open: done, not timed out.
  HookOutcome left = RunHook(Hook({"/bin/sh", "-c", "sleep 30 & echo started"}, 20s), Event());
  ASSERT_TRUE(left.started) << left.error;
  EXPECT_FALSE(left.timed_out);
  EXPECT_EQ(left.exit_code, 0);
  EXPECT_EQ(left.output, "started\n");
  EXPECT_LT(left.seconds, 10);
  // A descriptor of the daemon's without close-on-exec is not the hook's.
  const int mine = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(mine, 3);
  HookOutcome fds = RunHook(Hook({"/bin/sh", "-c", "ls /proc/$$/fd"}), Event());
  ::close(mine);
  EXPECT_EQ(fds.output, "0\n1\n2\n") << "only its standard streams (sh's own scripts aside)";
  // Killed at its timeout, with what it started.
  HookOutcome group = RunHook(Hook({"/bin/sh", "-c", "sleep 60 & sleep 60"}, 1s), Event());
  EXPECT_TRUE(group.timed_out);
  EXPECT_EQ(group.signal, SIGKILL);
  EXPECT_EQ(group.exit_code, -1);
}

TEST(Hooks, AHookMustBeAnAbsoluteExecutableWithATimeoutInRange) {
  EXPECT_TRUE(CheckHookConfig(Hook({"/bin/cat"})).ok());
  auto refused = [](HookConfig h) {
    Status st = CheckHookConfig(h);
    EXPECT_FALSE(st.ok());
    return st.message();
  };
  EXPECT_NE(refused(Hook({"cat"})).find("must be an absolute path"), std::string::npos);
  EXPECT_NE(refused(Hook({})).find("command is empty"), std::string::npos);
  flatcast::testing::TempDir dir;
  const std::string plain = dir / "not-executable.sh";
  flatcast::testing::WriteFile(plain, "echo\n");
  std::filesystem::permissions(plain, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_NE(refused(Hook({plain})).find("is not an executable file"), std::string::npos);
  EXPECT_NE(refused(Hook({"/bin"})).find("is not an executable file"), std::string::npos);
  EXPECT_NE(refused(Hook({"/bin/cat"}, 0s)).find("timeout_s must be 1 to 600"), std::string::npos);
  HookConfig other = Hook({"/bin/cat"});
  other.on = "publish";
  EXPECT_NE(refused(other).find("on must be \"directive\" or \"overdue\""), std::string::npos);
}

TEST(Hooks, PostingNeverWaitsForAHookAndAFullQueueDropsTheEvent) {
  HookRunner runner({Hook({"/bin/sleep", "2"}, 5s)}, /*max_queue=*/2);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) runner.Post(Event());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << "Post does not wait";
  // One runs, two wait, two are dropped (counted as failures).
  EXPECT_GE(runner.failures(), 2u);
}

TEST(Hooks, AStoppingDaemonKillsTheHookThatRunsAndDoesNotWaitForItsTimeout) {
  const auto start = std::chrono::steady_clock::now();
  {
    HookRunner runner({Hook({"/bin/sleep", "600"}, 600s)});
    runner.Post(Event());
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  std::atomic<bool> cancel{true};
  HookOutcome o = RunHook(Hook({"/bin/sleep", "600"}, 600s), Event(), &cancel);
  EXPECT_TRUE(o.started);
  EXPECT_TRUE(o.cancelled);
  EXPECT_FALSE(o.timed_out);
}

TEST(Hooks, EachEventRunsTheHooksOnItInOrder) {
  HookRunner runner({Hook({"/bin/cat"}), HookConfig{"overdue", {"/bin/false"}, 10s}});
  runner.Post(Event());
  runner.Post(HookEvent{"overdue", "(1 own, 0 below)", "{}", {}});
  runner.Drain();
  EXPECT_EQ(runner.runs(), 2u);
  EXPECT_EQ(runner.failures(), 1u) << "/bin/false";
}

}  // namespace
}  // namespace flatcast::subscriber
