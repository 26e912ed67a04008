#include "escalation.h"

#include <spdlog/spdlog.h>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "public_hold.h"
#include "replies.h"

namespace flatcast::broker {

void Escalation::Update(TimePoint now) {
  std::vector<uint32_t> changed = overdue_.Update(
      index_.versions(), [&](const std::string& id) { return public_.Find(id); }, now);
  if (!overdue_.newly_passed().empty()) {
    std::vector<PassedDeadline> passed = overdue_.newly_passed();
    changes_.Submit([this, passed, now](ChangeQueue::Finished finished) {
      StoreWrite w;
      for (const PassedDeadline& p : passed) {
        const DirectiveState* state = index_.Find(p.seq);
        auto e = Event(v1::LifecycleEvent::DEADLINE_PASSED);
        Stamp(e, state->stored, now, "");
        e.set_level(p.level);
        e.set_overdue_units(p.overdue_units);
        *e.mutable_deadline() = ToTimestamp(p.deadline);
        w.events.push_back(e);
        spdlog::warn("{} deadline of {} passed: {} units overdue; reminding them and their parents",
                     v1::AckLevel_Name(p.level), state->stored.directive().id(), p.overdue_units);
      }
      commits_.Commit(std::move(w), [this, passed, finished](const Status& st) {
        if (!st.ok()) {
          spdlog::error("passed deadlines not recorded, tried again on the next round: {}",
                        st.ToString());
          for (const PassedDeadline& p : passed) overdue_.UnmarkPassed(p.seq, p.level);
        }
        finished();
      });
    });
  }
  size_t sent = 0;
  for (uint32_t unit : changed) {
    if (!connections_.Connected(unit)) continue;
    Send(unit, now);
    ++sent;
  }
  if (sent > 0) spdlog::info("sent {} overdue reports", sent);
}

void Escalation::OnHello(uint32_t unit, TimePoint now) {
  if (overdue_.HasReport(unit)) Send(unit, now);
}

void Escalation::Send(uint32_t unit, TimePoint now) {
  (void)connections_.SendToUnit(unit, OverdueMessage(overdue_.ReportFor(unit, index_.versions(), now)),
                                now);
}

}  // namespace flatcast::broker
