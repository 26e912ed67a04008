#include "flatcast/broker/audit_queries.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "flatcast/directive.h"
#include "flatcast/duration.h"

namespace flatcast::broker {

namespace {

constexpr TimePoint kNever = TimePoint::min();

uint32_t PageLimit(uint32_t asked) {
  if (asked == 0) return kDefaultPageSize;
  return std::min(asked, kMaxPageSize);
}

v1::UnitRef RefOf(const Unit& unit) {
  v1::UnitRef ref;
  ref.set_code(unit.code);
  ref.set_name(unit.name);
  ref.set_tier(static_cast<v1::Tier>(unit.tier));
  return ref;
}

// [since, until) from optional timestamps.
struct Window {
  TimePoint since = TimePoint::min();
  TimePoint until = TimePoint::max();
  bool Contains(TimePoint t) const { return t >= since && t < until; }
};
Result<Window> WindowOf(bool has_since, const google::protobuf::Timestamp& since, bool has_until,
                        const google::protobuf::Timestamp& until) {
  if (has_since) FLATCAST_RETURN_IF_ERROR(CheckInputTime(since, "since"));
  if (has_until) FLATCAST_RETURN_IF_ERROR(CheckInputTime(until, "until"));
  Window w;
  if (has_since) w.since = FromTimestamp(since);
  if (has_until) w.until = FromTimestamp(until);
  return w;
}

void Add(v1::LevelCounts& c, const std::array<TimePoint, 3>& acked, TimePoint as_of) {
  c.set_addressed(c.addressed() + 1);
  if (acked[0] != kNever && acked[0] <= as_of) c.set_received(c.received() + 1);
  if (acked[1] != kNever && acked[1] <= as_of) c.set_confirmed(c.confirmed() + 1);
  if (acked[2] != kNever && acked[2] <= as_of) c.set_ready(c.ready() + 1);
}

}  // namespace

std::string IsoWeek(TimePoint t) {
  using namespace std::chrono;
  auto day = floor<days>(t);
  weekday wd{day};
  // Monday = 0 ... Sunday = 6; the ISO week belongs to the year of its Thursday.
  int from_monday = static_cast<int>(wd.iso_encoding()) - 1;
  sys_days thursday = sys_days(day) - days(from_monday) + days(3);
  year_month_day ymd{thursday};
  sys_days jan1 = sys_days(ymd.year() / January / 1);
  int week = static_cast<int>((thursday - jan1).count() / 7) + 1;
  return fmt::format("{}-W{:02d}", static_cast<int>(ymd.year()), week);
}

int64_t SortedPercentile(const std::vector<int64_t>& values, double q) {
  if (values.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

Status AuditQueries::CheckRegion(const std::string& region) const {
  if (!region.empty() && !registry_.Find(region)) {
    return Status::InvalidArgument(fmt::format("region \"{}\" is not in the registry", region));
  }
  return Status::Ok();
}

Result<AuditQueries::Target> AuditQueries::Load(const std::string& directive_id,
                                                const std::string& region, bool with_notes) const {
  if (directive_id.empty()) return Status::InvalidArgument("no directive id given");
  FLATCAST_RETURN_IF_ERROR(CheckRegion(region));
  Result<std::optional<uint64_t>> seq = store_.SeqOfId(directive_id);
  if (!seq.ok()) return seq.status();
  if (!*seq) return Status::NotFound(fmt::format("no directive with id \"{}\"", directive_id));
  Result<std::optional<v1::StoredDirective>> stored = store_.GetDirective(**seq);
  if (!stored.ok()) return stored.status();
  if (!*stored) return Status::NotFound(fmt::format("directive {} is not stored", directive_id));
  Target t;
  t.stored = std::move(**stored);
  auto [first, last] = region.empty() ? std::pair<uint32_t, uint32_t>{0, registry_.size()}
                                      : registry_.SubtreeRange(region);
  for (uint32_t i : AddressedUnits(t.stored.directive(), registry_)) {
    if (i >= first && i < last) t.units.push_back(i);
  }
  t.acked.assign(t.units.size(), {kNever, kNever, kNever});
  if (with_notes) t.notes.assign(t.units.size(), "");
  // Acks come in unit-code order, as the units do: one merge walk.
  size_t p = 0;
  FLATCAST_RETURN_IF_ERROR(store_.ForEachAck(
      t.stored.seq(), region,
      [&](std::string_view unit, v1::AckLevel level, const v1::AckRecord& record) {
        while (p < t.units.size() && std::string_view(registry_.unit(t.units[p]).code) < unit) ++p;
        if (p == t.units.size() || registry_.unit(t.units[p]).code != unit) return;
        if (level < v1::RECEIVED || level > v1::READY) return;
        t.acked[p][level - 1] = FromTimestamp(record.stored());
        if (with_notes && level == v1::READY) t.notes[p] = record.note();
      }));
  return t;
}

Result<v1::AuditReply> AuditQueries::Run(const v1::AuditRequest& request) const {
  v1::AuditReply reply;
  auto put = [&](auto result, auto* field) -> Result<v1::AuditReply> {
    if (!result.ok()) return result.status();
    *field = std::move(result).value();
    return reply;
  };
  switch (request.query_case()) {
    case v1::AuditRequest::kRollup:
      return put(Rollup(request.rollup()), reply.mutable_rollup());
    case v1::AuditRequest::kMissing:
      return put(Missing(request.missing()), reply.mutable_missing());
    case v1::AuditRequest::kLatency:
      return put(Latency(request.latency()), reply.mutable_latency());
    case v1::AuditRequest::kUnitHistory:
      return put(UnitHistory(request.unit_history()), reply.mutable_unit_history());
    case v1::AuditRequest::kLog:
      return put(Log(request.log()), reply.mutable_log());
    case v1::AuditRequest::kReadiness:
      return put(Readiness(request.readiness()), reply.mutable_readiness());
    case v1::AuditRequest::kRatings:
      return put(Ratings(request.ratings()), reply.mutable_ratings());
    case v1::AuditRequest::kBurden:
      return put(Burden(request.burden()), reply.mutable_burden());
    case v1::AuditRequest::kVerify:
      return put(Verify(request.verify()), reply.mutable_verify());
    case v1::AuditRequest::kDirective:
      return put(Directive(request.directive()), reply.mutable_directive());
    case v1::AuditRequest::kReturns:
      return put(Returns(request.returns()), reply.mutable_returns());
    case v1::AuditRequest::QUERY_NOT_SET:
      break;
  }
  return Status::InvalidArgument("the audit request names no query");
}

Result<v1::RollupReply> AuditQueries::Rollup(const v1::RollupQuery& q) const {
  Tier depth = q.depth() == v1::TIER_UNSPECIFIED ? Tier::kDistrict : static_cast<Tier>(q.depth());
  if (q.depth() < v1::TIER_UNSPECIFIED || q.depth() > v1::COMMUNITY) {
    return Status::InvalidArgument("depth must be a tier");
  }
  Result<Target> t = Load(q.directive_id(), q.region());
  if (!t.ok()) return t.status();
  auto [first, last] = q.region().empty() ? std::pair<uint32_t, uint32_t>{0, registry_.size()}
                                          : registry_.SubtreeRange(q.region());
  // Counts per registry index of every node at or above `depth`.
  std::vector<v1::LevelCounts> counts(last - first);
  const TimePoint now = TimePoint::max();
  for (size_t p = 0; p < t->units.size(); ++p) {
    for (uint32_t node = t->units[p]; node != Registry::kNone && node >= first && node < last;
         node = registry_.unit(node).parent) {
      if (registry_.unit(node).tier <= depth) Add(counts[node - first], t->acked[p], now);
    }
  }
  v1::RollupReply reply;
  *reply.mutable_directive() = t->stored;
  for (uint32_t i = first; i < last; ++i) {
    const Unit& unit = registry_.unit(i);
    if (unit.tier > depth || counts[i - first].addressed() == 0) continue;
    v1::RollupRow* row = reply.add_rows();
    row->set_code(unit.code);
    row->set_name(unit.name);
    row->set_tier(static_cast<v1::Tier>(unit.tier));
    *row->mutable_counts() = counts[i - first];
  }
  std::optional<v1::PublicRecord> record;
  if (auto r = store_.GetPublicRecord(t->stored.directive().id()); r.ok()) record = *r;
  TimePoint wall = clock_.Now();
  for (const Deadline& d : ResolveDeadlines(t->stored.directive(), record ? &*record : nullptr)) {
    v1::ResolvedDeadline* out = reply.add_deadlines();
    out->set_level(d.level);
    *out->mutable_deadline() = ToTimestamp(d.at);
    out->set_passed(wall >= d.at);
  }
  return reply;
}

Result<v1::CoverageReply> AuditQueries::Coverage(const v1::CoverageQuery& q,
                                                 uint32_t connected_now) const {
  Result<Target> t = Load(q.directive_id(), q.region());
  if (!t.ok()) return t.status();
  v1::CoverageReply r;
  *r.mutable_directive() = t->stored;
  r.set_region(q.region());
  std::array<v1::TierCount, 6> tiers;
  uint32_t acknowledged = 0, missing = 0;
  TimePoint last = kNever;
  for (size_t p = 0; p < t->units.size(); ++p) {
    const Unit& unit = registry_.unit(t->units[p]);
    auto& tc = tiers[static_cast<int>(unit.tier)];
    tc.set_addressed(tc.addressed() + 1);
    const TimePoint received = t->acked[p][0];
    if (received != kNever) {
      tc.set_acknowledged(tc.acknowledged() + 1);
      ++acknowledged;
      last = std::max(last, received);
      continue;
    }
    if (missing < q.max_missing()) {
      r.add_missing(unit.code);
      r.add_missing_names(unit.name);
    }
    ++missing;
  }
  for (Tier tier : kAllTiers) {
    auto& tc = tiers[static_cast<int>(tier)];
    if (tc.addressed() == 0) continue;
    tc.set_tier(static_cast<v1::Tier>(tier));
    *r.add_tiers() = tc;
  }
  r.set_addressed(static_cast<uint32_t>(t->units.size()));
  r.set_acknowledged(acknowledged);
  r.set_missing_total(missing);
  r.set_connected_now(connected_now);
  if (acknowledged > 0) *r.mutable_last_ack_stored() = ToTimestamp(last);
  return r;
}

Result<v1::EventsReply> AuditQueries::Events(const v1::EventsQuery& q) const {
  v1::EventsReply reply;
  FLATCAST_RETURN_IF_ERROR(store_.ForEachEvent(
      q.directive_id(), [&](const v1::LifecycleEvent& e) { *reply.add_events() = e; }));
  if (!q.directive_id().empty() && reply.events_size() == 0) {
    return Status::NotFound(fmt::format("no directive with id \"{}\"", q.directive_id()));
  }
  return reply;
}

Result<v1::DirectiveReply> AuditQueries::Directive(const v1::DirectiveQuery& q) const {
  if (q.directive_id().empty()) return Status::InvalidArgument("no directive id given");
  // Each version was made by a lifecycle event that names its sequence.
  std::map<uint32_t, uint64_t> seq_of_version;
  FLATCAST_RETURN_IF_ERROR(store_.ForEachEvent(q.directive_id(), [&](const v1::LifecycleEvent& e) {
    if (e.version() > 0) seq_of_version.emplace(e.version(), e.directive_seq());
  }));
  if (seq_of_version.empty()) {
    return Status::NotFound(fmt::format("no directive with id \"{}\"", q.directive_id()));
  }
  uint32_t version = q.version() == 0 ? seq_of_version.rbegin()->first : q.version();
  auto it = seq_of_version.find(version);
  if (it == seq_of_version.end()) {
    return Status::NotFound(fmt::format("directive {} has no version {} (versions 1 to {})",
                                        q.directive_id(), version,
                                        seq_of_version.rbegin()->first));
  }
  Result<std::optional<v1::StoredDirective>> stored = store_.GetDirective(it->second);
  if (!stored.ok()) return stored.status();
  if (!*stored || (*stored)->directive().id() != q.directive_id()) {
    return Status::NotFound(
        fmt::format("version {} of directive {} is not stored", version, q.directive_id()));
  }
  v1::DirectiveReply reply;
  *reply.mutable_directive() = std::move(**stored);
  for (const auto& entry : seq_of_version) reply.add_versions(entry.first);
  return reply;
}

namespace {

// One row's aggregate of a return form's answers.
class ReturnsTally {
 public:
  ReturnsTally(const v1::ReturnForm& form, const std::vector<std::optional<int64_t>>& thresholds,
               uint32_t max_units)
      : form_(form), thresholds_(thresholds), max_units_(max_units) {
    for (int i = 0; i < form.fields_size(); ++i) {
      v1::FieldAggregate* f = row_.add_fields();
      f->set_key(form.fields(i).key());
      if (thresholds[i]) f->set_threshold(*thresholds[i]);
      switch (form.fields(i).kind()) {
        case v1::FormField::CHOICE:
          for (int c = 0; c < form.fields(i).choices_size(); ++c) f->add_counts(0);
          break;
        case v1::FormField::YES_NO:
          f->add_counts(0);
          f->add_counts(0);
          break;
        default:
          break;
      }
    }
  }

  void Addressed() { row_.set_addressed(row_.addressed() + 1); }
  void Missing(const Unit& unit) {
    if (static_cast<uint32_t>(row_.missing_size()) < max_units_) *row_.add_missing() = RefOf(unit);
  }
  // The unit's counted answer; `corrected`: it answered more than once.
  void Answer(const Unit& unit, const v1::ReturnRecord& r, bool corrected) {
    row_.set_answered(row_.answered() + 1);
    if (corrected) row_.set_corrected(row_.corrected() + 1);
    // Values are stored in the form's order: one walk.
    int i = 0;
    for (const v1::FieldValue& v : r.values()) {
      while (i < form_.fields_size() && form_.fields(i).key() != v.key()) ++i;
      if (i == form_.fields_size()) break;
      v1::FieldAggregate* f = row_.mutable_fields(i);
      const v1::FormField& field = form_.fields(i);
      if (f->answered() == 0 && v.has_quantity()) {
        f->set_min(v.quantity());
        f->set_max(v.quantity());
      }
      f->set_answered(f->answered() + 1);
      switch (v.value_case()) {
        case v1::FieldValue::kQuantity:
          f->set_sum(f->sum() + v.quantity());
          f->set_min(std::min(f->min(), v.quantity()));
          f->set_max(std::max(f->max(), v.quantity()));
          if (thresholds_[i] && v.quantity() < *thresholds_[i]) {
            f->set_below_count(f->below_count() + 1);
            if (static_cast<uint32_t>(f->below_size()) < max_units_) *f->add_below() = RefOf(unit);
          }
          break;
        case v1::FieldValue::kChoice:
          for (int c = 0; c < field.choices_size(); ++c) {
            if (field.choices(c) == v.choice() && c < f->counts_size()) {
              f->set_counts(c, f->counts(c) + 1);
            }
          }
          break;
        case v1::FieldValue::kYes:
          if (f->counts_size() == 2) f->set_counts(v.yes() ? 0 : 1, f->counts(v.yes() ? 0 : 1) + 1);
          break;
        default:
          break;
      }
    }
  }
  // Adds another row's counts (for the total; lists are not merged).
  void Merge(const v1::ReturnsRow& other) {
    row_.set_addressed(row_.addressed() + other.addressed());
    row_.set_answered(row_.answered() + other.answered());
    row_.set_corrected(row_.corrected() + other.corrected());
    for (int i = 0; i < row_.fields_size() && i < other.fields_size(); ++i) {
      v1::FieldAggregate* f = row_.mutable_fields(i);
      const v1::FieldAggregate& o = other.fields(i);
      if (o.answered() == 0) continue;
      if (f->answered() == 0) {
        f->set_min(o.min());
        f->set_max(o.max());
      }
      f->set_answered(f->answered() + o.answered());
      f->set_sum(f->sum() + o.sum());
      f->set_min(std::min(f->min(), o.min()));
      f->set_max(std::max(f->max(), o.max()));
      f->set_below_count(f->below_count() + o.below_count());
      for (int c = 0; c < f->counts_size() && c < o.counts_size(); ++c) {
        f->set_counts(c, f->counts(c) + o.counts(c));
      }
    }
  }
  v1::ReturnsRow& row() { return row_; }

 private:
  const v1::ReturnForm& form_;
  const std::vector<std::optional<int64_t>>& thresholds_;
  uint32_t max_units_;
  v1::ReturnsRow row_;
};

}  // namespace

Result<v1::ReturnsReply> AuditQueries::Returns(const v1::ReturnsQuery& q) const {
  if (q.by() != v1::TIER_UNSPECIFIED && q.by() != v1::CITY && q.by() != v1::DISTRICT &&
      q.by() != v1::STREET) {
    return Status::InvalidArgument("by must be city, district or street");
  }
  if (q.max_units() > kMaxPageSize) {
    return Status::InvalidArgument(fmt::format("max_units is at most {}", kMaxPageSize));
  }
  FLATCAST_RETURN_IF_ERROR(CheckRegion(q.region()));
  v1::DirectiveQuery dq;
  dq.set_directive_id(q.directive_id());
  dq.set_version(q.version());
  Result<v1::DirectiveReply> version = Directive(dq);
  if (!version.ok()) return version.status();
  const v1::StoredDirective& stored = version->directive();
  const v1::Directive& d = stored.directive();
  if (!d.has_return_form()) {
    return Status::InvalidArgument(
        fmt::format("version {} of directive {} has no return form", d.version(), d.id()));
  }
  const v1::ReturnForm& form = d.return_form();
  std::vector<std::optional<int64_t>> thresholds(form.fields_size());
  for (int i = 0; i < form.fields_size(); ++i) {
    if (form.fields(i).has_below()) thresholds[i] = form.fields(i).below();
  }
  for (const auto& [key, value] : q.below()) {
    int i = 0;
    while (i < form.fields_size() && form.fields(i).key() != key) ++i;
    if (i == form.fields_size() || form.fields(i).kind() != v1::FormField::QUANTITY) {
      return Status::InvalidArgument(
          fmt::format("below: the form has no quantity field \"{}\"", key.substr(0, 40)));
    }
    thresholds[i] = value;
  }

  auto [first, last] = q.region().empty() ? std::pair<uint32_t, uint32_t>{0, registry_.size()}
                                          : registry_.SubtreeRange(q.region());
  std::vector<uint32_t> units;
  for (uint32_t i : AddressedUnits(d, registry_)) {
    if (i >= first && i < last) units.push_back(i);
  }
  // The row of each addressed unit: its region at `by` (itself when it is
  // of that tier or above; the queried region when that lies below `by`),
  // or the one row.
  const uint32_t region_node =
      q.region().empty() ? Registry::kNone : *registry_.Find(q.region());
  std::vector<ReturnsTally> tallies;
  std::vector<uint32_t> row_node;  // registry index of each row's region
  std::unordered_map<uint32_t, size_t> row_of_node;
  std::vector<size_t> row_of(units.size());
  const Tier by = static_cast<Tier>(q.by());
  for (size_t p = 0; p < units.size(); ++p) {
    uint32_t node = Registry::kNone;
    if (q.by() != v1::TIER_UNSPECIFIED) {
      node = units[p];
      while (registry_.unit(node).tier > by && node != region_node &&
             registry_.unit(node).parent != Registry::kNone) {
        node = registry_.unit(node).parent;
      }
    }
    auto [it, added] = row_of_node.try_emplace(node, tallies.size());
    if (added) {
      tallies.emplace_back(form, thresholds, q.max_units());
      row_node.push_back(node);
    }
    row_of[p] = it->second;
    tallies[it->second].Addressed();
  }

  // Answers come in (unit, revision) order, as the units do: one merge walk
  // keeping each unit's latest by its `answered` time (an older answer that
  // reached the broker after its correction is stored after it, and does
  // not count), the revision deciding a tie.
  std::vector<bool> answered(units.size(), false);
  size_t p = 0;
  std::optional<size_t> pending_at;
  v1::ReturnRecord pending;
  uint32_t revisions = 0;
  auto later = [](const v1::ReturnRecord& a, const v1::ReturnRecord& b) {
    return std::tuple(a.answered().seconds(), a.answered().nanos(), a.revision()) >
           std::tuple(b.answered().seconds(), b.answered().nanos(), b.revision());
  };
  auto flush = [&] {
    if (!pending_at) return;
    answered[*pending_at] = true;
    tallies[row_of[*pending_at]].Answer(registry_.unit(units[*pending_at]), pending, revisions > 1);
    pending_at.reset();
  };
  FLATCAST_RETURN_IF_ERROR(store_.ForEachReturn(
      stored.seq(), q.region(),
      [&](uint64_t, std::string_view unit, const v1::ReturnRecord& record) {
        while (p < units.size() && std::string_view(registry_.unit(units[p]).code) < unit) ++p;
        if (p == units.size() || registry_.unit(units[p]).code != unit) return;
        if (pending_at && *pending_at != p) flush();
        if (!pending_at) {
          pending_at = p;
          pending = record;
          revisions = 1;
          return;
        }
        ++revisions;
        if (later(record, pending)) pending = record;
      }));
  flush();
  for (size_t u = 0; u < units.size(); ++u) {
    if (!answered[u]) tallies[row_of[u]].Missing(registry_.unit(units[u]));
  }

  v1::ReturnsReply reply;
  reply.set_directive_id(d.id());
  reply.set_version(d.version());
  reply.set_seq(stored.seq());
  *reply.mutable_form() = form;
  ReturnsTally total(form, thresholds, 0);
  // Rows in region-code order.
  std::vector<size_t> order(tallies.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return row_node[a] < row_node[b]; });
  for (size_t i : order) {
    v1::ReturnsRow& row = tallies[i].row();
    if (row_node[i] != Registry::kNone) {
      row.set_region(registry_.unit(row_node[i]).code);
      row.set_region_name(registry_.unit(row_node[i]).name);
    } else if (!q.region().empty()) {
      const Unit& region = registry_.unit(*registry_.Find(q.region()));
      row.set_region(region.code);
      row.set_region_name(region.name);
    }
    total.Merge(row);
    *reply.add_rows() = std::move(row);
  }
  v1::ReturnsRow& sum = total.row();
  if (!q.region().empty()) {
    const Unit& region = registry_.unit(*registry_.Find(q.region()));
    sum.set_region(region.code);
    sum.set_region_name(region.name);
  }
  *reply.mutable_total() = std::move(sum);
  return reply;
}

Result<v1::MissingReply> AuditQueries::Missing(const v1::MissingQuery& q) const {
  v1::AckLevel level = q.level() == v1::ACK_LEVEL_UNSPECIFIED ? v1::RECEIVED : q.level();
  if (level < v1::RECEIVED || level > v1::READY) {
    return Status::InvalidArgument("level must be received, confirmed or ready");
  }
  Result<Target> t = Load(q.directive_id(), q.region());
  if (!t.ok()) return t.status();
  const uint32_t limit = PageLimit(q.limit());
  v1::MissingReply reply;
  *reply.mutable_directive() = t->stored;
  reply.set_level(level);
  reply.set_offset(q.offset());
  uint32_t total = 0;
  for (size_t p = 0; p < t->units.size(); ++p) {
    if (t->acked[p][level - 1] != kNever) continue;
    if (total >= q.offset() && static_cast<uint32_t>(reply.units_size()) < limit) {
      *reply.add_units() = RefOf(registry_.unit(t->units[p]));
    }
    ++total;
  }
  reply.set_total(total);
  std::optional<v1::PublicRecord> record;
  if (auto r = store_.GetPublicRecord(t->stored.directive().id()); r.ok()) record = *r;
  for (const Deadline& d : ResolveDeadlines(t->stored.directive(), record ? &*record : nullptr)) {
    if (d.level != level) continue;
    *reply.mutable_deadline() = ToTimestamp(d.at);
    reply.set_overdue(clock_.Now() >= d.at);
  }
  return reply;
}

Result<v1::LatencyReply> AuditQueries::Latency(const v1::LatencyQuery& q) const {
  Result<Target> t = Load(q.directive_id(), q.region());
  if (!t.ok()) return t.status();
  TimePoint sent = FromTimestamp(t->stored.directive().sent());
  v1::LatencyReply reply;
  *reply.mutable_directive() = t->stored;
  for (size_t l = 0; l < 3; ++l) {
    std::vector<int64_t> ms;
    for (const auto& acked : t->acked) {
      if (acked[l] == kNever) continue;
      ms.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(acked[l] - sent).count());
    }
    std::sort(ms.begin(), ms.end());
    v1::LevelLatency* out = reply.add_levels();
    out->set_level(static_cast<v1::AckLevel>(l + 1));
    out->set_count(static_cast<uint32_t>(ms.size()));
    out->set_addressed(static_cast<uint32_t>(t->units.size()));
    out->set_p50_ms(SortedPercentile(ms, 0.50));
    out->set_p90_ms(SortedPercentile(ms, 0.90));
    out->set_p99_ms(SortedPercentile(ms, 0.99));
    out->set_max_ms(ms.empty() ? 0 : ms.back());
  }
  return reply;
}

Result<v1::UnitHistoryReply> AuditQueries::UnitHistory(const v1::UnitHistoryQuery& q) const {
  std::optional<uint32_t> index = registry_.Find(q.unit_code());
  if (!index) return Status::NotFound(fmt::format("unit \"{}\" is not in the registry", q.unit_code()));
  const Unit& unit = registry_.unit(*index);
  v1::UnitHistoryReply reply;
  *reply.mutable_unit() = RefOf(unit);
  std::map<std::string, uint64_t> latest;  // id -> seq of its latest version
  Status st = store_.ForEachDirective([&](const v1::StoredDirective& stored) -> Status {
    const v1::Directive& d = stored.directive();
    latest[d.id()] = stored.seq();
    if (!IsAddressedTo(d, unit.code, unit.tier)) return Status::Ok();
    v1::UnitHistoryRow* row = reply.add_rows();
    row->set_seq(stored.seq());
    row->set_directive_id(d.id());
    row->set_version(d.version());
    row->set_title(d.title());
    row->set_issuer_department(d.issuer_department());
    *row->mutable_sent() = d.sent();
    for (v1::AckLevel level : {v1::RECEIVED, v1::CONFIRMED, v1::READY}) {
      auto ack = store_.GetAck(stored.seq(), unit.code, level);
      if (!ack.ok()) return ack.status();
      if (!*ack) continue;
      google::protobuf::Timestamp at = (*ack)->stored();
      if (level == v1::RECEIVED) *row->mutable_received() = at;
      if (level == v1::CONFIRMED) *row->mutable_confirmed() = at;
      if (level == v1::READY) {
        *row->mutable_ready() = at;
        row->set_ready_note((*ack)->note());
      }
    }
    auto rating = store_.GetRating(stored.seq(), unit.code);
    if (!rating.ok()) return rating.status();
    if (*rating) *row->mutable_rating() = **rating;
    return Status::Ok();
  });
  FLATCAST_RETURN_IF_ERROR(st);
  for (v1::UnitHistoryRow& row : *reply.mutable_rows()) {
    row.set_superseded(latest[row.directive_id()] != row.seq());
  }
  return reply;
}

Result<v1::LogReply> AuditQueries::Log(const v1::LogQuery& q) const {
  FLATCAST_RETURN_IF_ERROR(CheckRegion(q.region()));
  Result<Window> in_window = WindowOf(q.has_since(), q.since(), q.has_until(), q.until());
  if (!in_window.ok()) return in_window.status();
  const Window window = *in_window;
  std::set<uint64_t> seqs;  // the directive's versions
  if (!q.directive_id().empty()) {
    FLATCAST_RETURN_IF_ERROR(store_.ForEachDirective([&](const v1::StoredDirective& d) {
      if (d.directive().id() == q.directive_id()) seqs.insert(d.seq());
      return Status::Ok();
    }));
    if (seqs.empty()) return Status::NotFound(fmt::format("no directive with id \"{}\"", q.directive_id()));
  }
  Result<uint64_t> head = store_.HeadLogSeq();
  if (!head.ok()) return head.status();
  uint64_t after = q.after_log_seq();
  if (after == 0 && q.has_since()) {
    // Records are stored in time order: the first at or after `since` by
    // binary search over log_seq.
    uint64_t lo = 1, hi = *head + 1;
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      auto r = store_.GetLogRecord(mid);
      if (!r.ok()) return r.status();
      if (*r && FromTimestamp((*r)->at()) < window.since) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    after = lo - 1;
  }
  const uint32_t limit = PageLimit(q.limit());
  v1::LogReply reply;
  reply.set_head_log_seq(*head);
  FLATCAST_RETURN_IF_ERROR(store_.ForEachLogRecord(after, [&](const v1::LogRecord& r) {
    TimePoint at = FromTimestamp(r.at());
    if (at >= window.until) return false;
    if (at < window.since) return true;
    uint64_t seq = 0;
    std::string_view unit;
    switch (r.entry_case()) {
      case v1::LogRecord::kAck: seq = r.ack().seq(); unit = r.ack().unit_code(); break;
      case v1::LogRecord::kRating: seq = r.rating().seq(); unit = r.rating().unit_code(); break;
      case v1::LogRecord::kReturnAnswer:
        seq = r.return_answer().seq();
        unit = r.return_answer().unit_code();
        break;
      case v1::LogRecord::kEvent: seq = r.event().directive_seq(); break;
      default: break;
    }
    if (!q.directive_id().empty()) {
      bool match = r.has_event() ? r.event().directive_id() == q.directive_id() : seqs.contains(seq);
      if (!match) return true;
    }
    if (!q.region().empty() && (unit.empty() || !Registry::IsWithin(unit, q.region()))) return true;
    if (static_cast<uint32_t>(reply.records_size()) == limit) {
      reply.set_more(true);
      return false;
    }
    *reply.add_records() = r;
    return true;
  }));
  return reply;
}

Result<v1::ReadinessReply> AuditQueries::Readiness(const v1::ReadinessQuery& q) const {
  Result<Target> t = Load(q.directive_id(), q.region());
  if (!t.ok()) return t.status();
  v1::ReadinessReply reply;
  *reply.mutable_directive() = t->stored;
  TimePoint as_of = clock_.Now();
  auto record = store_.GetPublicRecord(t->stored.directive().id());
  if (!record.ok()) return record.status();
  if (*record) {
    *reply.mutable_public_record() = **record;
    if ((*record)->has_released_at()) {
      reply.set_released(true);
      as_of = FromTimestamp((*record)->released_at());
    }
  }
  *reply.mutable_as_of() = ToTimestamp(as_of);
  std::map<Tier, v1::LevelCounts> tiers;
  v1::LevelCounts total;
  for (size_t p = 0; p < t->units.size(); ++p) {
    Add(tiers[registry_.unit(t->units[p]).tier], t->acked[p], as_of);
    Add(total, t->acked[p], as_of);
  }
  for (const auto& [tier, counts] : tiers) {
    v1::TierReadiness* row = reply.add_tiers();
    row->set_tier(static_cast<v1::Tier>(tier));
    *row->mutable_counts() = counts;
  }
  *reply.mutable_total() = total;
  return reply;
}

Result<v1::RatingsReply> AuditQueries::Ratings(const v1::RatingsQuery& q) const {
  Result<Window> in_window = WindowOf(q.has_since(), q.since(), q.has_until(), q.until());
  if (!in_window.ok()) return in_window.status();
  const Window window = *in_window;
  const bool by_directive = q.by() == v1::RatingsQuery::DIRECTIVE;
  struct About {
    std::string id, title, department;
  };
  std::unordered_map<uint64_t, About> directives;
  FLATCAST_RETURN_IF_ERROR(store_.ForEachDirective([&](const v1::StoredDirective& d) {
    directives[d.seq()] = {d.directive().id(), d.directive().title(),
                           d.directive().issuer_department()};
    return Status::Ok();
  }));
  struct Sum {
    v1::RatingsRow row;
    uint64_t clarity = 0, feasibility = 0;
    std::array<uint32_t, 5> clarity_hist{}, feasibility_hist{};
    std::set<std::string> ids;
    std::vector<std::pair<TimePoint, std::string>> comments;
  };
  std::map<std::string, Sum> sums;
  FLATCAST_RETURN_IF_ERROR(store_.ForEachRating(
      [&](uint64_t seq, std::string_view, const v1::RatingRecord& r) {
        if (!window.Contains(FromTimestamp(r.stored()))) return;
        auto it = directives.find(seq);
        if (it == directives.end()) return;
        const About& about = it->second;
        Sum& sum = sums[by_directive ? about.id : about.department];
        sum.row.set_ratings(sum.row.ratings() + 1);
        sum.row.set_issuer_department(about.department);
        if (by_directive) sum.row.set_title(about.title);
        uint32_t c = std::clamp<uint32_t>(r.clarity(), 1, 5);
        uint32_t f = std::clamp<uint32_t>(r.feasibility(), 1, 5);
        sum.clarity += c;
        sum.feasibility += f;
        ++sum.clarity_hist[c - 1];
        ++sum.feasibility_hist[f - 1];
        sum.ids.insert(about.id);
        if (by_directive && !r.comment().empty()) {
          sum.comments.emplace_back(FromTimestamp(r.stored()), r.comment());
        }
      }));
  v1::RatingsReply reply;
  for (auto& [key, sum] : sums) {
    v1::RatingsRow row = sum.row;
    row.set_key(key);
    double n = row.ratings();
    row.set_clarity_mean(n > 0 ? static_cast<double>(sum.clarity) / n : 0);
    row.set_feasibility_mean(n > 0 ? static_cast<double>(sum.feasibility) / n : 0);
    for (uint32_t v : sum.clarity_hist) row.add_clarity_histogram(v);
    for (uint32_t v : sum.feasibility_hist) row.add_feasibility_histogram(v);
    row.set_directives(static_cast<uint32_t>(sum.ids.size()));
    std::sort(sum.comments.begin(), sum.comments.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    for (size_t i = 0; i < sum.comments.size() && i < q.comments(); ++i) {
      row.add_comments(sum.comments[i].second);
    }
    *reply.add_rows() = std::move(row);
  }
  return reply;
}

Result<v1::BurdenReply> AuditQueries::Burden(const v1::BurdenQuery& q) const {
  FLATCAST_RETURN_IF_ERROR(CheckRegion(q.region()));
  Result<Window> in_window = WindowOf(q.has_since(), q.since(), q.has_until(), q.until());
  if (!in_window.ok()) return in_window.status();
  const Window window = *in_window;
  const bool by_tier = q.by() == v1::BurdenQuery::TIER;
  // (unit index, week, department) -> directives, action items, return forms
  using Counts = std::array<uint32_t, 3>;
  std::map<std::tuple<uint32_t, std::string, std::string>, Counts> cells;
  std::set<std::pair<uint32_t, std::string>> seen;  // (unit, directive id): counted once
  std::set<std::pair<uint32_t, std::string>> forms_seen;  // a form counted once per directive
  std::vector<v1::StoredDirective> all;
  FLATCAST_RETURN_IF_ERROR(store_.ForEachDirective([&](const v1::StoredDirective& d) {
    all.push_back(d);
    return Status::Ok();
  }));
  for (const v1::StoredDirective& stored : all) {
    const v1::Directive& d = stored.directive();
    std::array<uint32_t, 6> actions{};  // action items per responsible tier
    for (const v1::ActionItem& a : d.actions()) {
      for (int t = 1; t <= 5; ++t) {
        if (a.responsible_tier() == v1::TIER_UNSPECIFIED || a.responsible_tier() == t) ++actions[t];
      }
    }
    FLATCAST_RETURN_IF_ERROR(store_.ForEachAck(
        stored.seq(), q.region(),
        [&](std::string_view code, v1::AckLevel level, const v1::AckRecord& record) {
          if (level != v1::RECEIVED) return;
          TimePoint at = FromTimestamp(record.stored());
          if (!window.Contains(at)) return;
          std::optional<uint32_t> unit = registry_.Find(code);
          if (!unit) return;
          const bool first = seen.insert({*unit, d.id()}).second;
          // A form added by an amendment counts from the version that brings it.
          const bool form = d.has_return_form() && forms_seen.insert({*unit, d.id()}).second;
          if (!first && !form) return;
          auto& cell = cells[{*unit, IsoWeek(at), d.issuer_department()}];
          if (first) {
            ++cell[0];
            cell[1] += actions[static_cast<int>(registry_.unit(*unit).tier)];
          }
          if (form) ++cell[2];
        }));
  }
  v1::BurdenReply reply;
  if (!by_tier) {
    for (const auto& [key, value] : cells) {
      const auto& [unit, week, department] = key;
      v1::BurdenRow* row = reply.add_rows();
      row->set_unit_code(registry_.unit(unit).code);
      row->set_unit_name(registry_.unit(unit).name);
      row->set_tier(static_cast<v1::Tier>(registry_.unit(unit).tier));
      row->set_week(week);
      row->set_department(department);
      row->set_directives(value[0]);
      row->set_action_items(value[1]);
      row->set_forms(value[2]);
      row->set_units(1);
    }
    return reply;
  }
  std::array<uint32_t, 6> units_of_tier{};
  auto [first, last] = q.region().empty() ? std::pair<uint32_t, uint32_t>{0, registry_.size()}
                                          : registry_.SubtreeRange(q.region());
  for (uint32_t i = first; i < last; ++i) ++units_of_tier[static_cast<int>(registry_.unit(i).tier)];
  std::map<std::tuple<int, std::string, std::string>, Counts> tiers;
  for (const auto& [key, value] : cells) {
    const auto& [unit, week, department] = key;
    auto& cell = tiers[{static_cast<int>(registry_.unit(unit).tier), week, department}];
    for (size_t i = 0; i < cell.size(); ++i) cell[i] += value[i];
  }
  for (const auto& [key, value] : tiers) {
    const auto& [tier, week, department] = key;
    v1::BurdenRow* row = reply.add_rows();
    row->set_tier(static_cast<v1::Tier>(tier));
    row->set_week(week);
    row->set_department(department);
    row->set_directives(value[0]);
    row->set_action_items(value[1]);
    row->set_forms(value[2]);
    row->set_units(units_of_tier[tier]);
  }
  return reply;
}

Result<v1::VerifyReply> AuditQueries::Verify(const v1::VerifyQuery& q) const {
  if (!q.anchor_hash().empty() && (q.anchor_hash().size() != kLogHashBytes || q.anchor_log_seq() == 0)) {
    return Status::InvalidArgument("an anchor is a log sequence number and a 32-byte hash");
  }
  Result<ChainReport> report = store_.VerifyLog(q.anchor_log_seq(), q.anchor_hash());
  if (!report.ok()) return report.status();
  v1::VerifyReply reply;
  reply.set_ok(report->ok());
  reply.set_records(report->records);
  reply.set_head_log_seq(report->head_log_seq);
  reply.set_head_hash(report->head_hash);
  reply.set_first_bad_log_seq(report->first_bad_log_seq);
  reply.set_problem(report->first_problem);
  reply.set_problems(report->problems);
  return reply;
}

}  // namespace flatcast::broker
