#include "deadlines.h"

#include "flatcast/duration.h"

#include <algorithm>

namespace flatcast::broker {

uint64_t OverdueTracker::Digest(const UnitReport& r) {
  // FNV-1a over the items and child lists; only compared with itself.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  for (const Item& item : r.own) {
    mix(item.seq);
    mix(item.level);
    mix(static_cast<uint64_t>(item.deadline.time_since_epoch().count()));
  }
  mix(0xffffffffffffffffull);
  for (const auto& [item, units] : r.children) {
    mix(item.seq);
    mix(item.level);
    mix(static_cast<uint64_t>(item.deadline.time_since_epoch().count()));
    for (uint32_t u : units) mix(u);
    mix(0xfffffffffffffffeull);
  }
  return h;
}

std::vector<uint32_t> OverdueTracker::Update(
    const std::map<uint64_t, DirectiveState>& directives,
    const std::function<const v1::PublicRecord*(const std::string&)>& public_of, TimePoint now) {
  newly_passed_.clear();
  std::unordered_map<uint32_t, UnitReport> next;
  for (const auto& entry : directives) {
    // Plain names, not a structured binding: lambdas below capture them.
    const uint64_t seq = entry.first;
    const DirectiveState& state = entry.second;
    const v1::Directive& d = state.stored.directive();
    if (state.superseded || d.deadlines().empty() || d.msg_type() == v1::CANCEL) continue;
    if (d.has_expires() && FromTimestamp(d.expires()) <= now) continue;
    const v1::PublicRecord* record = public_of(d.id());
    if (record != nullptr && (record->state() == v1::PublicRecord::CANCELLED_BEFORE_RELEASE ||
                              record->state() == v1::PublicRecord::CANCELLED_AFTER_RELEASE)) {
      continue;
    }
    for (const Deadline& deadline : ResolveDeadlines(d, record)) {
      if (now < deadline.at) continue;
      Item item{seq, deadline.level, deadline.at};
      uint32_t overdue = 0;
      state.ForEachAddressed(registry_, [&](uint32_t i) {
        if (state.Has(deadline.level, i)) return;
        ++overdue;
        next[i].own.push_back(item);
        uint32_t parent = registry_.unit(i).parent;
        if (parent != Registry::kNone) next[parent].children[item].push_back(i);
      });
      if (passed_.insert({seq, deadline.level}).second && overdue > 0) {
        newly_passed_.push_back({seq, deadline.level, deadline.at, overdue});
      }
    }
  }
  std::vector<uint32_t> changed;
  for (auto& [unit, report] : next) {
    report.digest = Digest(report);
    auto old = reports_.find(unit);
    if (old == reports_.end() || old->second.digest != report.digest) changed.push_back(unit);
  }
  for (const auto& [unit, report] : reports_) {
    if (!next.contains(unit)) changed.push_back(unit);
  }
  reports_ = std::move(next);
  std::sort(changed.begin(), changed.end());
  return changed;
}

v1::OverdueReport OverdueTracker::ReportFor(uint32_t unit,
                                            const std::map<uint64_t, DirectiveState>& directives,
                                            TimePoint now) const {
  v1::OverdueReport out;
  *out.mutable_as_of() = ToTimestamp(now);
  auto it = reports_.find(unit);
  if (it == reports_.end()) return out;
  auto fill = [&](const Item& item, v1::OverdueItem* o) {
    const v1::Directive& d = directives.at(item.seq).stored.directive();
    o->set_seq(item.seq);
    o->set_directive_id(d.id());
    o->set_version(d.version());
    o->set_title(d.title());
    o->set_level(item.level);
    *o->mutable_deadline() = ToTimestamp(item.deadline);
  };
  for (const Item& item : it->second.own) fill(item, out.add_own());
  for (const auto& [item, units] : it->second.children) {
    v1::OverdueItem* o = out.add_children();
    fill(item, o);
    for (uint32_t u : units) {
      o->add_units(registry_.unit(u).code);
      o->add_unit_names(registry_.unit(u).name);
    }
  }
  return out;
}

}  // namespace flatcast::broker
