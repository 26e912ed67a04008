#include "directive_index.h"

#include <algorithm>

#include "replies.h"

namespace flatcast::broker {

DirectiveState& DirectiveIndex::Add(const v1::StoredDirective& stored) {
  DirectiveState& state = directives_[stored.seq()];
  state.stored = stored;
  const auto& d = stored.directive();
  for (int t : d.target_tiers()) {
    if (t >= 0 && t < 8) state.tier_mask |= static_cast<uint8_t>(1u << t);  // validated: 2..5
  }
  std::vector<std::string> scope(d.scope().begin(), d.scope().end());
  std::sort(scope.begin(), scope.end());
  std::string last;
  for (const auto& code : scope) {
    if (!last.empty() && Registry::IsWithin(code, last)) continue;  // covered by an ancestor
    state.ranges.push_back(registry_.SubtreeRange(code));
    last = code;
  }
  for (auto& bits : state.acked) bits.assign(registry_.size(), false);
  state.deliver = DeliverMessage(stored);
  auto [latest, inserted] = latest_of_id_.try_emplace(d.id(), stored.seq());
  if (!inserted && latest->second != stored.seq()) {
    if (DirectiveState* previous = Find(latest->second)) {
      previous->superseded = true;
      // Whoever an earlier version reached and this one does not address
      // is sent this one as the directive's withdrawal.
      previous->ForEachRecipient(registry_, [&](uint32_t i) {
        if (!state.Addresses(i, registry_.unit(i).tier)) state.withdrawn.push_back(i);
      });
      std::sort(state.withdrawn.begin(), state.withdrawn.end());
      state.withdrawn.erase(std::unique(state.withdrawn.begin(), state.withdrawn.end()),
                            state.withdrawn.end());
    }
    latest->second = stored.seq();
  }
  if (!stored.idempotency_key().empty()) seq_of_key_[stored.idempotency_key()] = stored.seq();
  if (!d.signature().signature().empty()) signatures_.insert(d.signature().signature());
  return state;
}

void DirectiveIndex::Clear() {
  directives_.clear();
  latest_of_id_.clear();
  seq_of_key_.clear();
  signatures_.clear();
  counters_.clear();
}

DirectiveState* DirectiveIndex::Find(uint64_t seq) {
  auto it = directives_.find(seq);
  return it == directives_.end() ? nullptr : &it->second;
}

const DirectiveState* DirectiveIndex::Find(uint64_t seq) const {
  auto it = directives_.find(seq);
  return it == directives_.end() ? nullptr : &it->second;
}

DirectiveState* DirectiveIndex::Latest(std::string_view id) {
  auto it = latest_of_id_.find(std::string(id));
  return it == latest_of_id_.end() ? nullptr : Find(it->second);
}

const DirectiveState* DirectiveIndex::WithIdempotencyKey(std::string_view key) const {
  auto it = seq_of_key_.find(std::string(key));
  return it == seq_of_key_.end() ? nullptr : Find(it->second);
}

uint32_t DirectiveIndex::Counter(const std::string& key) const {
  auto it = counters_.find(key);
  return it == counters_.end() ? 0 : it->second;
}

}  // namespace flatcast::broker
