// Terminals that act, with the real programs: a terminal daemon configured
// with [[hooks]] runs them for a new directive and for its overdue report,
// the event on each command's standard input; a hook that hangs is killed at
// its timeout and holds up neither storing nor acknowledging.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "broker_process.h"
#include "process.h"
#include "temp_dir.h"

namespace flatcast {
namespace {

using namespace testing;
using namespace std::chrono_literals;

constexpr char kCommunity[] = "520102016001";  // 纪念塔社区

TEST(TerminalHooks, ADirectiveAndItsOverdueReportRunTheHooksAndAHangingOneIsKilled) {
  TempDir dir;
  BrokerProcess broker(dir.path(), {"--heartbeat-interval", "500ms"});
  ASSERT_TRUE(broker.ok()) << broker.Stderr();
  const std::string seen = dir / "seen.jsonl";
  const std::string env = dir / "env.txt";
  const std::string overdue = dir / "overdue.json";
  WriteFile(dir / "terminal.toml",
            "unit = \"" + std::string(kCommunity) + "\"\n"
            "broker = \"" + broker.endpoint() + "\"\n"
            "state_dir = \"" + (dir / "terminal") + "\"\n"
            "[[hooks]]\non = \"directive\"\ncommand = [\"/bin/sleep\", \"600\"]\ntimeout_s = 1\n"
            "[[hooks]]\non = \"directive\"\ncommand = [\"/usr/bin/tee\", \"-a\", \"" + seen + "\"]\n"
            "[[hooks]]\non = \"directive\"\ncommand = [\"/bin/sh\", \"-c\", "
            "\"echo $FLATCAST_EVENT $FLATCAST_UNIT $FLATCAST_DIRECTIVE_ID v$FLATCAST_VERSION "
            "$FLATCAST_STATUS >> " + env + "\"]\n"
            "[[hooks]]\non = \"overdue\"\ncommand = [\"/usr/bin/tee\", \"" + overdue + "\"]\n");
  Process daemon({Program("flatcast-subscriber"), "run", "--config", dir / "terminal.toml"},
                 dir.path() / "daemon");
  ASSERT_TRUE(WaitFor([&] { return daemon.Stderr().find("welcomed") != std::string::npos; }, 30s))
      << daemon.Stderr();
  EXPECT_NE(daemon.Stderr().find("4 hooks configured"), std::string::npos) << daemon.Stderr();

  RunResult published = RunProgram(
      "flatcast-publisher",
      {"--broker", broker.endpoint(), "--json", "publish", "--issuer", "52", "--department",
       "HEALTH", "--title", "检查口罩库存", "--body", "今日内清点。", "--action",
       "清点口罩|community", "--scope", kCommunity, "--tiers", "community", "--deadline",
       "confirmed=3s"});
  ASSERT_EQ(published.exit_code, 0) << published.err;
  const std::string id = nlohmann::json::parse(published.out)["id"].get<std::string>();

  // Received at once, whatever the hooks do.
  nlohmann::json history;
  ASSERT_TRUE(WaitFor(
      [&] {
        RunResult r = RunProgram("flatcast-audit",
                                 {"--broker", broker.endpoint(), "unit", kCommunity, "--format", "json"});
        if (r.exit_code != 0) return false;
        history = nlohmann::json::parse(r.out, nullptr, false);
        return history.is_object() && !history["rows"].empty() &&
               history["rows"][0]["received"] != "";
      },
      30s))
      << history.dump(2) << daemon.Stderr();

  // The hanging hook is killed after its second; the next ones run.
  ASSERT_TRUE(WaitFor([&] { return ReadFile(env).find(id) != std::string::npos; }, 30s))
      << daemon.Stderr();
  EXPECT_EQ(ReadFile(env), "directive " + std::string(kCommunity) + " " + id + " v1 ACTUAL\n");
  EXPECT_NE(daemon.Stderr().find("hook /bin/sleep for directive " + id +
                                 " v1 killed after its timeout of 1 s"),
            std::string::npos)
      << daemon.Stderr();
  const std::string stdin_seen = ReadFile(seen);
  EXPECT_NE(stdin_seen.find("\"id\": \"" + id + "\""), std::string::npos) << stdin_seen;
  EXPECT_NE(stdin_seen.find("检查口罩库存"), std::string::npos) << stdin_seen;
  EXPECT_NE(daemon.Stderr().find("hook /usr/bin/tee for directive " + id + " v1 done"),
            std::string::npos);

  // Not confirmed within 3 s: the overdue report reaches its hook.
  ASSERT_TRUE(WaitFor([&] { return ReadFile(overdue).find(id) != std::string::npos; }, 30s))
      << daemon.Stderr();
  nlohmann::json report = nlohmann::json::parse(ReadFile(overdue), nullptr, false);
  ASSERT_TRUE(report.is_object()) << ReadFile(overdue);
  EXPECT_EQ(report["own"].size(), 1u) << report.dump(2);
  EXPECT_EQ(daemon.Stop(), 0) << daemon.Stderr();
}

TEST(TerminalHooks, AHookThatCannotRunIsRefusedBeforeTheDaemonStarts) {
  TempDir dir;
  WriteFile(dir / "terminal.toml",
            "unit = \"" + std::string(kCommunity) + "\"\nbroker = \"tcp://127.0.0.1:1\"\n"
            "state_dir = \"" + (dir / "terminal") + "\"\n"
            "[[hooks]]\non = \"directive\"\ncommand = [\"espeak\", \"-v\", \"zh\"]\n");
  RunResult r = RunProgram("flatcast-subscriber", {"run", "--config", dir / "terminal.toml"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("the command \"espeak\" must be an absolute path"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace flatcast
