#pragma once

// When a terminal with a warm standby connection switches to it
// (docs/HA.md, "Warm standby connections"). One policy for the subscriber
// daemon and every swarm terminal: the caller tells it what it sees on its
// two connections, and does what Decide() returns.
//
// A terminal switches when its connection has been down for a second, when
// the broker has named the other broker as leader, when the session finds
// the connection silent (three heartbeats), or when a connection that is up
// has not welcomed the unit for ten seconds (a broker that accepts
// connections but answers nothing); only while the warm connection is up,
// and not within 0.5-1.5 s of the previous switch, so terminals that both
// brokers turn away (an election under way) ask about once a second,
// spread out. Named the other while the warm connection is down (a standby
// names the old leader until its lease expires), it asks its own broker
// again after 0.5-1.5 s instead.

#include <chrono>
#include <optional>
#include <random>

namespace flatcast::subscriber {

class WarmSwitch {
 public:
  using Steady = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kLostGrace{1000};
  static constexpr std::chrono::seconds kUnanswered{10};

  enum class Action {
    kNone,
    kSwitch,    // make the warm connection the terminal's; then Switched()
    kAskAgain,  // say Hello again on the terminal's connection if not welcomed
  };

  // What the terminal sees when it asks.
  struct Seen {
    bool up = false;        // its connection is up
    bool warm_up = false;   // the warm connection is up
    bool welcomed = false;  // the broker welcomed the unit on its connection
    bool rejected = false;  // the broker refused the unit (no switch helps)
    bool silent = false;    // the session heard nothing for three heartbeats
  };

  // A new terminal: its connection is not up yet.
  explicit WarmSwitch(Steady::time_point now) : lost_at_(now) {}

  void Up(Steady::time_point now) {
    lost_at_.reset();
    up_at_ = now;
  }
  void Down(Steady::time_point now) { lost_at_ = now; }
  // The broker answered NOT_LEADER naming the broker of the warm connection.
  void NamedTheOther() { wanted_ = true; }

  // Asked often (every 100-200 ms). `jitter` draws the pauses.
  Action Decide(Steady::time_point now, const Seen& seen, std::minstd_rand& jitter);

  // The connections were swapped: the terminal's is down until it comes up.
  void Switched(Steady::time_point now, std::minstd_rand& jitter);

 private:
  static std::chrono::milliseconds Pause(std::minstd_rand& jitter) {
    return std::chrono::milliseconds(std::uniform_int_distribution<int>(500, 1500)(jitter));
  }

  std::optional<Steady::time_point> lost_at_;  // when the connection went down
  Steady::time_point up_at_{};                 // when it came up or was switched to
  Steady::time_point next_switch_{};           // no switch before this
  std::optional<Steady::time_point> ask_again_at_;
  bool wanted_ = false;
};

}  // namespace flatcast::subscriber
