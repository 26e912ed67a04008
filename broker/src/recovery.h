// Recovery: the broker's in-memory state rebuilt from its store at start-up
// (the store is the record, memory the index): every directive version with
// the acknowledgements it has, the daily counters, and what the other parts
// keep (public records, the latest rating of each unit, deadlines already
// recorded as passed).
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "directive_index.h"
#include "flatcast.pb.h"
#include "flatcast/broker/store.h"
#include "flatcast/clock.h"
#include "flatcast/status.h"

namespace flatcast::broker {

struct RecoveredState {
  std::vector<v1::PublicRecord> public_records;
  std::vector<std::tuple<uint64_t, std::string, TimePoint>> ratings;  // seq, unit, rated
  // Every stored answer to a return form, in (seq, unit, revision) order.
  std::vector<std::tuple<uint64_t, std::string, google::protobuf::Timestamp, uint32_t>>
      returns;  // seq, unit, answered, revision
  std::vector<std::pair<uint64_t, v1::AckLevel>> passed_deadlines;
};

// Fills the empty `index` and `rest` from `store`; an error when a read fails
// or a record does not decode.
Status Recover(const Store& store, const Registry& registry, DirectiveIndex& index,
               RecoveredState& rest);

}  // namespace flatcast::broker
