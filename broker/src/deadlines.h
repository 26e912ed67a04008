// Acknowledgement deadlines and escalation. A directive may require each
// addressed unit to acknowledge a level by a time (AckDeadline); once it
// passes, every unit still without that level is overdue: the unit is
// reminded, and its parent unit (a community's street, a street's district)
// is told which of its children are overdue. The tracker works out, from the
// broker's in-memory view, what each unit's OverdueReport says, so the loop
// sends only the reports that changed.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "directive_state.h"
#include "flatcast.pb.h"
#include "flatcast/clock.h"
#include "flatcast/directive.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast::broker {

// A deadline that passed with units overdue, for the DEADLINE_PASSED event.
struct PassedDeadline {
  uint64_t seq;
  v1::AckLevel level;
  TimePoint deadline;
  uint32_t overdue_units;
};

class OverdueTracker {
 public:
  explicit OverdueTracker(const Registry& registry) : registry_(registry) {}

  // Deadlines already recorded as passed (from the stored events), so a
  // restart does not record them again.
  void MarkPassed(uint64_t seq, v1::AckLevel level) { passed_.insert({seq, level}); }
  // Forgets every passing and report.
  void Reset() {
    passed_.clear();
    newly_passed_.clear();
    reports_.clear();
  }
  // The passing could not be recorded: the next Update reports it again.
  void UnmarkPassed(uint64_t seq, v1::AckLevel level) { passed_.erase({seq, level}); }

  // Works out every unit's report at `now` from the latest versions in
  // `directives`. Returns the units whose report changed since the last
  // call (including those whose report became empty). `public_of` gives a
  // directive id's public record, or nullptr.
  std::vector<uint32_t> Update(
      const std::map<uint64_t, DirectiveState>& directives,
      const std::function<const v1::PublicRecord*(const std::string&)>& public_of, TimePoint now);

  // Deadlines that passed for the first time in the last Update.
  const std::vector<PassedDeadline>& newly_passed() const { return newly_passed_; }

  // The unit's current report; empty lists when nothing is overdue.
  v1::OverdueReport ReportFor(uint32_t unit, const std::map<uint64_t, DirectiveState>& directives,
                              TimePoint now) const;
  bool HasReport(uint32_t unit) const { return reports_.contains(unit); }
  // Units with something of their own overdue, by level (index: v1::AckLevel).
  std::array<uint64_t, 4> OverdueUnitsByLevel() const {
    std::array<uint64_t, 4> n{};
    for (const auto& [unit, report] : reports_) {
      std::array<bool, 4> seen{};
      for (const Item& item : report.own) {
        if (item.level >= 0 && item.level < 4 && !seen[item.level]) {
          seen[item.level] = true;
          ++n[item.level];
        }
      }
    }
    return n;
  }

 private:
  struct Item {
    uint64_t seq;
    v1::AckLevel level;
    TimePoint deadline;
    bool operator<(const Item& o) const {
      return std::tie(seq, level) < std::tie(o.seq, o.level);
    }
  };
  struct UnitReport {
    std::vector<Item> own;
    std::map<Item, std::vector<uint32_t>> children;  // item -> overdue child units
    uint64_t digest = 0;
  };

  static uint64_t Digest(const UnitReport& r);

  const Registry& registry_;
  std::set<std::pair<uint64_t, int>> passed_;
  std::vector<PassedDeadline> newly_passed_;
  std::unordered_map<uint32_t, UnitReport> reports_;  // units with something overdue
};

}  // namespace flatcast::broker
