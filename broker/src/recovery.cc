#include "recovery.h"

#include <algorithm>

#include "flatcast/directive.h"
#include "flatcast/duration.h"

namespace flatcast::broker {

Status Recover(const Store& store, const Registry& registry, DirectiveIndex& index,
               RecoveredState& rest) {
  FLATCAST_RETURN_IF_ERROR(store.ForEachDirective([&](const v1::StoredDirective& d) {
    index.Add(d);
    return Status::Ok();
  }));
  for (auto& entry : index.versions()) {
    DirectiveState& state = entry.second;  // a plain reference: lambdas may capture it
    FLATCAST_RETURN_IF_ERROR(store.ForEachAck(
        entry.first, "", [&](std::string_view unit, v1::AckLevel level, const v1::AckRecord& record) {
          if (level < v1::RECEIVED || level > v1::READY) return;
          if (auto idx = registry.Find(unit)) state.Mark(level, *idx);
          if (level == v1::RECEIVED) {
            state.last_ack_stored = std::max(state.last_ack_stored, FromTimestamp(record.stored()));
          }
        }));
  }
  FLATCAST_RETURN_IF_ERROR(store.ForEachCounter(
      [&](std::string_view key, uint32_t value) { index.SetCounter(std::string(key), value); }));
  FLATCAST_RETURN_IF_ERROR(store.ForEachRating(
      [&](uint64_t seq, std::string_view unit, const v1::RatingRecord& record) {
        rest.ratings.emplace_back(seq, std::string(unit), FromTimestamp(record.rated()));
      }));
  FLATCAST_RETURN_IF_ERROR(store.ForEachReturn(
      0, "", [&](uint64_t seq, std::string_view unit, const v1::ReturnRecord& record) {
        rest.returns.emplace_back(seq, std::string(unit), record.answered(), record.revision());
      }));
  FLATCAST_RETURN_IF_ERROR(store.ForEachEvent("", [&](const v1::LifecycleEvent& e) {
    if (e.kind() == v1::LifecycleEvent::DEADLINE_PASSED) {
      rest.passed_deadlines.emplace_back(e.directive_seq(), e.level());
    }
  }));
  return store.ForEachPublicRecord(
      [&](const v1::PublicRecord& r) { rest.public_records.push_back(r); });
}

}  // namespace flatcast::broker
