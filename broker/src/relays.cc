#include "relays.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "flatcast/duration.h"
#include "flatcast/return_form.h"
#include "replies.h"

namespace flatcast::broker {

namespace {

constexpr size_t kMaxNoteBytes = 1000;
constexpr size_t kMaxCommentBytes = 2000;
constexpr char kCursorPrefix[] = "relay/";

std::string Hex(std::string_view bytes, size_t most) {
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < most; ++i) {
    out += fmt::format("{:02x}", static_cast<unsigned char>(bytes[i]));
  }
  return out;
}

google::protobuf::Timestamp FromMs(int64_t ms) {
  google::protobuf::Timestamp ts;
  int64_t seconds = ms / 1000, rest = ms % 1000;
  if (rest < 0) {
    rest += 1000;
    --seconds;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest * 1000000));
  return ts;
}

}  // namespace

Relays::Relays(const Registry& registry, const Clock& clock, DirectiveIndex& index,
               Connections& connections, CommitPath& commits, const RelaysOptions& options,
               BrokerMetrics& metrics)
    : registry_(registry),
      clock_(clock),
      index_(index),
      connections_(connections),
      commits_(commits),
      options_(options),
      metrics_(metrics) {}

Status Relays::Recover(const Store& store) {
  // Connected relays stay connected across a reload of the core's view
  // (after a write whose outcome was not known); the store has the cursors.
  return store.ForEachCursor(kCursorPrefix, [&](std::string_view name, uint64_t value) {
    std::string region(name.substr(std::string_view(kCursorPrefix).size()));
    Relay& r = relays_[region];
    r.region = region;
    r.log_cursor = value;
  });
}

const std::string& Relays::DigestOf(const std::string& region) {
  auto it = digests_.find(region);
  if (it == digests_.end()) it = digests_.emplace(region, registry_.RegionDigest(region)).first;
  return it->second;
}

Relays::Relay* Relays::ByRouting(const std::string& routing) {
  auto it = region_of_routing_.find(routing);
  if (it == region_of_routing_.end()) return nullptr;
  Relay& r = relays_[it->second];
  return r.routing == routing ? &r : nullptr;
}

Status Relays::OnHello(const std::string& routing, uint64_t corr, const v1::RelayHello& hello) {
  const std::string& region = hello.region();
  if (!registry_.Find(region)) {
    return Status::NotRegistered(fmt::format(
        "relay region \"{}\" is not a unit of this broker's registry", region));
  }
  if (hello.registry_digest() != DigestOf(region)) {
    return Status::InvalidArgument(fmt::format(
        "registry mismatch for region {}: the relay's units of it differ from this broker's "
        "(digest {}… there, {}… here); both must load the same registry version",
        region, Hex(hello.registry_digest(), 8), Hex(DigestOf(region), 8)));
  }
  if (hello.cursor() > index_.head_seq()) {
    return Status::InvalidArgument(fmt::format(
        "the relay for {} says it holds upstream version {}, beyond this broker's last ({}): it "
        "was fed from another store than this one",
        region, hello.cursor(), index_.head_seq()));
  }
  const TimePoint now = clock_.Now();
  Relay& r = relays_[region];
  if (!r.routing.empty() && r.routing != routing) region_of_routing_.erase(r.routing);
  if (r.routing != routing) {
    spdlog::info("relay {} (\"{}\") connected, holding up to upstream version {}", region,
                 hello.name(), hello.cursor());
  }
  r.region = region;
  r.name = hello.name();
  r.routing = routing;
  region_of_routing_[routing] = region;
  auto [first, last] = registry_.SubtreeRange(region);
  r.first = first;
  r.last = last;
  r.stored = hello.cursor();
  r.sent = r.scanned = r.stored;
  r.in_flight.clear();
  r.queued.clear();  // a relay saying hello starts its batches again from the welcome
  r.last_progress = r.last_heard = now;
  v1::Envelope env = NewEnvelope(corr);
  v1::RelayWelcome* w = env.mutable_relay_welcome();
  w->set_head_seq(index_.head_seq());
  w->set_log_cursor(r.log_cursor);
  w->set_heartbeat_interval_ms(static_cast<uint32_t>(options_.heartbeat_interval.count()));
  Send(r, Encoded(env), now);
  Pump(r, now);
  return Status::Ok();
}

Status Relays::OnStored(const std::string& routing, const v1::RelayStored& stored) {
  Relay* r = ByRouting(routing);
  if (r == nullptr) return Status::NotRegistered("relay_stored before relay_hello: say which relay you are first");
  const TimePoint now = clock_.Now();
  r->last_heard = now;
  if (stored.seq() > r->sent) {
    return Status::InvalidArgument(fmt::format(
        "relay {} says it stored upstream version {}, but was sent up to {}", r->region,
        stored.seq(), r->sent));
  }
  if (stored.seq() > r->stored) {
    r->stored = stored.seq();
    r->last_progress = now;
  }
  while (!r->in_flight.empty() && r->in_flight.front() <= r->stored) r->in_flight.pop_front();
  if (r->in_flight.empty()) r->last_progress = now;
  Pump(*r, now);
  return Status::Ok();
}

bool Relays::Reaches(const DirectiveState& state, uint32_t first, uint32_t last) const {
  for (auto [from, to] : state.ranges) {
    for (uint32_t i = std::max(from, first); i < std::min(to, last); ++i) {
      if (state.Targets(registry_.unit(i).tier)) return true;
    }
  }
  auto w = std::lower_bound(state.withdrawn.begin(), state.withdrawn.end(), first);
  return w != state.withdrawn.end() && *w < last;
}

void Relays::Pump(Relay& r, TimePoint now) {
  if (r.routing.empty()) return;
  const auto& versions = index_.versions();
  for (auto it = versions.upper_bound(r.scanned);
       it != versions.end() && r.in_flight.size() < options_.window && !r.routing.empty(); ++it) {
    r.scanned = it->first;
    if (!Reaches(it->second, r.first, r.last)) continue;
    v1::Envelope env = NewEnvelope();
    v1::RelayDeliver* d = env.mutable_relay_deliver();
    *d->mutable_directive() = it->second.stored;
    d->set_prev_seq(r.sent);
    if (r.in_flight.empty()) r.last_progress = now;
    Send(r, Encoded(env), now);
    r.sent = it->first;
    r.in_flight.push_back(it->first);
  }
}

void Relays::Send(Relay& r, const Payload& bytes, TimePoint now) {
  if (connections_.Reply(r.routing, bytes, now) == SendOutcome::kGone) {
    spdlog::warn("relay {} went away", r.region);
    region_of_routing_.erase(r.routing);
    r.routing.clear();
  }
}

void Relays::FanOut(const DirectiveState& state, TimePoint now) {
  for (auto& [region, r] : relays_) {
    if (r.routing.empty() || !Reaches(state, r.first, r.last)) continue;
    Pump(r, now);
  }
}

void Relays::Tick(TimePoint now) {
  if (now < next_heartbeat_) return;
  next_heartbeat_ = now + options_.heartbeat_interval;
  for (auto& [region, r] : relays_) {
    if (r.routing.empty()) continue;
    if (now - r.last_heard >= 3 * options_.heartbeat_interval) {
      // A relay says it is there every heartbeat interval (RelayStored).
      spdlog::warn("relay {} silent for {}; counted as gone until it says hello", region,
                   FormatDuration(3 * options_.heartbeat_interval));
      region_of_routing_.erase(r.routing);
      r.routing.clear();
      continue;
    }
    if (!r.in_flight.empty() && now - r.last_progress >= 3 * options_.heartbeat_interval) {
      // Sent and not stored: lost on the way (a full queue) or not stored
      // there; sent again from what the relay holds.
      spdlog::warn("relay {} stored nothing of {} versions in {}; sending them again", region,
                   r.in_flight.size(), FormatDuration(3 * options_.heartbeat_interval));
      r.sent = r.scanned = r.stored;
      r.in_flight.clear();
      r.last_progress = now;
      Pump(r, now);
    }
    if (r.routing.empty()) continue;
    Send(r, HeartbeatMessage(index_.head_seq(), static_cast<uint32_t>(r.in_flight.size())), now);
  }
}

Status Relays::OnAckBatch(const std::string& routing, uint64_t corr, const v1::RelayAckBatch& batch) {
  Relay* relay = ByRouting(routing);
  if (relay == nullptr) {
    return Status::NotRegistered("relay_acks before relay_hello: say which relay you are first");
  }
  const TimePoint now = clock_.Now();
  relay->last_heard = now;
  // The position the batch must follow: what is durable, or what the
  // batches being stored and waiting will have made durable.
  const uint64_t follows = !relay->queued.empty() ? relay->queued.back().second.last_log_seq()
                           : relay->batch_in_flight ? relay->batch_last
                                                    : relay->log_cursor;
  if (batch.after_log_seq() != follows || batch.last_log_seq() < batch.after_log_seq() ||
      (relay->batch_in_flight && relay->queued.size() >= options_.queued_batches)) {
    // Not the next (or too many waiting): the relay continues from what is
    // durable here.
    v1::Envelope env = NewEnvelope(corr);
    env.mutable_relay_acks_stored()->set_log_cursor(relay->log_cursor);
    Send(*relay, Encoded(env), now);
    return Status::Ok();
  }
  if (relay->batch_in_flight) {
    relay->queued.emplace_back(corr, batch);
    return Status::Ok();
  }
  Pending pending;
  FLATCAST_RETURN_IF_ERROR(AddBatch(*relay, corr, batch, pending));
  CommitPending(*relay, std::move(pending));
  return Status::Ok();
}

void Relays::DropQueued(Relay& r) {
  const TimePoint now = clock_.Now();
  for (const auto& [corr, batch] : r.queued) {
    if (r.routing.empty()) break;
    v1::Envelope env = NewEnvelope(corr);
    env.mutable_relay_acks_stored()->set_log_cursor(r.log_cursor);
    Send(r, Encoded(env), now);
  }
  r.queued.clear();
}

void Relays::StoreNextQueued(Relay& r) {
  if (r.batch_in_flight || r.queued.empty()) return;
  // Everything that waited goes into one write: one sync for all of them.
  Pending pending;
  while (!r.queued.empty()) {
    auto [corr, batch] = std::move(r.queued.front());
    r.queued.pop_front();
    if (Status st = AddBatch(r, corr, batch, pending); !st.ok()) {
      spdlog::warn("refused relay batch: {}", st.message());
      metrics_.RequestRefused(ErrorCodeOf(st));
      if (!r.routing.empty()) Send(r, ErrorReply(corr, st), clock_.Now());
      DropQueued(r);
      break;
    }
  }
  if (!pending.answers.empty()) CommitPending(r, std::move(pending));
}

Status Relays::AddBatch(Relay& r, uint64_t corr, const v1::RelayAckBatch& batch,
                        Pending& pending) {
  Relay* relay = &r;
  const TimePoint now = clock_.Now();
  const std::string& region = relay->region;
  const uint32_t size = relay->last - relay->first;
  auto unit_at = [&](uint64_t offset) -> Result<uint32_t> {
    if (offset >= size) {
      return Status::PermissionDenied(fmt::format(
          "unit offset {} is outside region {} ({} units): a relay acknowledges only for its "
          "region; nothing of the batch was stored",
          offset, region, size));
    }
    return relay->first + static_cast<uint32_t>(offset);
  };
  auto version_of = [&](uint64_t seq) -> Result<DirectiveState*> {
    DirectiveState* state = index_.Find(seq);
    if (state == nullptr || !Reaches(*state, relay->first, relay->last)) {
      return Status::InvalidArgument(fmt::format(
          "no version {} here that reaches region {}; nothing of the batch was stored", seq,
          region));
    }
    return state;
  };
  // Built apart and added to `pending` only once the whole batch is checked.
  std::vector<AckEntry> acks;
  std::vector<RatingEntry> ratings;
  std::vector<Pending::Marked> marks;
  std::vector<std::tuple<uint64_t, uint32_t, int>> seen;
  const auto stored_at = ToTimestamp(now);
  for (const v1::RelayAckGroup& g : batch.groups()) {
    Result<DirectiveState*> state = version_of(g.seq());
    if (!state.ok()) return state.status();
    if (g.level() < v1::RECEIVED || g.level() > v1::READY) {
      return Status::InvalidArgument("unknown acknowledgement level in a relay batch");
    }
    if (g.acked_ms_size() != g.units_size()) {
      return Status::InvalidArgument(fmt::format(
          "a relay batch group of version {} has {} units and {} times", g.seq(), g.units_size(),
          g.acked_ms_size()));
    }
    uint64_t offset = 0;
    int64_t acked_ms = 0;
    for (int k = 0; k < g.units_size(); ++k) {
      offset += g.units(k);
      acked_ms += g.acked_ms(k);
      Result<uint32_t> unit = unit_at(offset);
      if (!unit.ok()) return unit.status();
      const Unit& u = registry_.unit(*unit);
      DirectiveState& s = **state;
      if (!s.Addresses(*unit, u.tier) && !(s.Withdraws(*unit) && g.level() == v1::RECEIVED)) {
        return Status::InvalidArgument(fmt::format(
            "version {} of {} is not addressed to unit {}; nothing of the batch was stored",
            g.seq(), s.stored.directive().id(), u.code));
      }
      google::protobuf::Timestamp acked = FromMs(acked_ms);
      if (Status st = CheckInputTime(acked, "acked"); !st.ok()) return st;
      auto note = g.notes().find(static_cast<uint32_t>(k));
      if (note != g.notes().end() && note->second.size() > kMaxNoteBytes) {
        return Status::InvalidArgument(fmt::format("a note of {} bytes; at most {} are kept",
                                                   note->second.size(), kMaxNoteBytes));
      }
      const std::tuple<uint64_t, uint32_t, int> key{g.seq(), *unit, g.level()};
      if (s.Has(g.level(), *unit) || pending.seen.contains(key)) continue;
      seen.push_back(key);
      AckEntry entry{g.seq(), u.code, g.level(), {}};
      *entry.record.mutable_acked() = acked;
      *entry.record.mutable_stored() = stored_at;
      entry.record.set_version(g.version());
      if (note != g.notes().end()) entry.record.set_note(note->second);
      acks.push_back(std::move(entry));
      marks.push_back({g.seq(), *unit, g.level()});
    }
  }
  for (const v1::RelayRating& rating : batch.ratings()) {
    Result<DirectiveState*> state = version_of(rating.seq());
    if (!state.ok()) return state.status();
    Result<uint32_t> unit = unit_at(rating.unit());
    if (!unit.ok()) return unit.status();
    const v1::RatingRecord& rec = rating.record();
    if (rec.clarity() < 1 || rec.clarity() > 5 || rec.feasibility() < 1 || rec.feasibility() > 5) {
      return Status::InvalidArgument("a relayed rating outside 1 to 5; nothing of the batch was stored");
    }
    if (rec.comment().size() > kMaxCommentBytes) {
      return Status::InvalidArgument(fmt::format("a relayed comment of {} bytes; at most {} are kept",
                                                 rec.comment().size(), kMaxCommentBytes));
    }
    if (Status st = CheckInputTime(rec.rated(), "rated"); !st.ok()) return st;
    RatingEntry entry{rating.seq(), registry_.unit(*unit).code, rec};
    *entry.record.mutable_stored() = stored_at;
    ratings.push_back(std::move(entry));
  }
  std::vector<ReturnEntry> returns;
  for (const v1::RelayReturn& answer : batch.returns()) {
    Result<DirectiveState*> state = version_of(answer.seq());
    if (!state.ok()) return state.status();
    Result<uint32_t> unit = unit_at(answer.unit());
    if (!unit.ok()) return unit.status();
    const Unit& u = registry_.unit(*unit);
    const v1::Directive& d = (*state)->stored.directive();
    if (!d.has_return_form() || !(*state)->Addresses(*unit, u.tier)) {
      return Status::InvalidArgument(fmt::format(
          "a relayed answer of unit {} to version {} of {}, which {}; nothing of the batch was "
          "stored",
          u.code, answer.seq(), d.id(),
          d.has_return_form() ? "does not address it" : "has no return form"));
    }
    ReturnEntry entry{answer.seq(), u.code, answer.record()};
    if (Status st = NormalizeReturnValues(d.return_form(), entry.record.mutable_values()); !st.ok()) {
      return st.WithContext(fmt::format("a relayed answer of unit {}; nothing of the batch was stored",
                                        u.code));
    }
    if (Status st = CheckInputTime(entry.record.answered(), "answered"); !st.ok()) return st;
    if (entry.record.version() != d.version()) {
      return Status::InvalidArgument(fmt::format(
          "a relayed answer of unit {} names version {} of {}, which is version {}; nothing of "
          "the batch was stored",
          u.code, entry.record.version(), d.id(), d.version()));
    }
    if (entry.record.revision() == 0) {
      return Status::InvalidArgument("a relayed answer without a revision; nothing of the batch was stored");
    }
    *entry.record.mutable_stored() = stored_at;
    returns.push_back(std::move(entry));
  }
  for (auto& a : acks) pending.write.acks.push_back(std::move(a));
  for (auto& rt : ratings) pending.write.ratings.push_back(std::move(rt));
  for (auto& rt : returns) pending.write.returns.push_back(std::move(rt));
  pending.marks.insert(pending.marks.end(), marks.begin(), marks.end());
  pending.seen.insert(seen.begin(), seen.end());
  pending.answers.emplace_back(corr, batch.last_log_seq());
  return Status::Ok();
}

void Relays::CommitPending(Relay& relay, Pending pending) {
  const std::string region = relay.region;
  const uint64_t last = pending.answers.back().second;
  pending.write.cursors.emplace_back(kCursorPrefix + region, last);
  relay.batch_in_flight = true;
  relay.batch_last = last;
  const size_t acks = pending.write.acks.size(), ratings = pending.write.ratings.size(),
               returns = pending.write.returns.size();
  commits_.Commit(std::move(pending.write), [this, region, marks = std::move(pending.marks),
                                             answers = std::move(pending.answers), acks, ratings,
                                             returns, last](const Status& st) {
    Relay& r = relays_[region];
    r.batch_in_flight = false;
    const TimePoint durable = clock_.Now();
    if (!st.ok()) {
      spdlog::error("relay {}: {} acknowledgements not stored (sent again): {}", region, acks,
                    st.ToString());
      if (!r.routing.empty()) {
        // The first is told why; the others, like those still queued, go
        // on from what is durable.
        metrics_.RequestRefused(ErrorCodeOf(st));
        Send(r, ErrorReply(answers.front().first, st), durable);
        for (size_t i = 1; i < answers.size(); ++i) {
          v1::Envelope env = NewEnvelope(answers[i].first);
          env.mutable_relay_acks_stored()->set_log_cursor(r.log_cursor);
          Send(r, Encoded(env), durable);
        }
      }
      DropQueued(r);  // none is stored past the one that failed
      return;
    }
    for (const Pending::Marked& m : marks) {
      if (DirectiveState* state = index_.Find(m.seq)) {
        state->Mark(m.level, m.unit);
        if (m.level == v1::RECEIVED) state->last_ack_stored = durable;
        metrics_.Acknowledged(
            m.level, std::chrono::duration<double>(
                         DifferenceSaturating(durable,
                                              FromTimestamp(state->stored.directive().sent())))
                         .count());
      }
    }
    for (size_t i = 0; i < ratings; ++i) metrics_.Rated();
    for (size_t i = 0; i < returns; ++i) metrics_.Returned();
    r.log_cursor = last;
    if (acks + ratings > 0) {
      spdlog::debug("relay {}: stored {} acknowledgements and {} ratings up to its log {} ({} "
                    "batches)",
                    region, acks, ratings, last, answers.size());
    }
    if (!r.routing.empty()) {
      for (const auto& [corr, batch_last] : answers) {
        v1::Envelope env = NewEnvelope(corr);
        env.mutable_relay_acks_stored()->set_log_cursor(batch_last);
        Send(r, Encoded(env), durable);
      }
    }
    StoreNextQueued(r);
  });
}

std::vector<RelayView> Relays::Views() const {
  std::vector<RelayView> out;
  for (const auto& [region, r] : relays_) {
    out.push_back({region, r.name, !r.routing.empty(), r.stored, r.log_cursor, r.last_heard});
  }
  return out;
}

}  // namespace flatcast::broker
