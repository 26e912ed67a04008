#include "public_servers.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "flatcast/duration.h"
#include "replies.h"

namespace flatcast::broker {

PublicServers::PublicServers(const Registry& registry, Connections& connections,
                             const PublicSigning* signing, PublicSink* sink,
                             const PublicServersOptions& options)
    : registry_(registry),
      connections_(connections),
      signing_(signing),
      sink_(sink),
      options_(options) {}

void PublicServers::Clear() {
  docs_.clear();
  seq_of_.clear();
  changed_ = true;
}

bool PublicServers::signing() const { return signing_ != nullptr && signing_->valid; }

Result<v1::PublicDocument> PublicServers::Render(const PublicEntry& entry) const {
  if (signing_ != nullptr && !signing_->valid) {
    return Status::Unavailable("the release key is no longer valid");
  }
  return RenderPublicDocument(entry, &registry_, signing_ ? &signing_->key : nullptr);
}

void PublicServers::Update(const PublicEntry& entry) {
  Result<v1::PublicDocument> doc = v1::PublicDocument();
  if (!entry.record.document().empty()) {
    if (!doc->ParseFromString(entry.record.document()) ||
        doc->public_seq() != entry.record.public_seq()) {
      doc = Status::Corruption("the stored public document of " + entry.record.directive_id() +
                               " does not parse or is not its record's");
    }
  } else {
    doc = Render(entry);
  }
  if (!doc.ok()) {
    spdlog::error("public documents of {} not rendered: {}", entry.record.public_id(),
                  doc.status().ToString());
    return;
  }
  auto [it, inserted] = seq_of_.try_emplace(doc->public_id(), doc->public_seq());
  if (!inserted) {
    docs_.erase(it->second);
    it->second = doc->public_seq();
  }
  docs_[doc->public_seq()] = std::move(doc).value();
  changed_ = true;
}

void PublicServers::Flush(TimePoint now) {
  if (!changed_) return;
  changed_ = false;
  if (sink_ != nullptr) {
    std::vector<v1::PublicDocument> all;
    all.reserve(docs_.size());
    for (const auto& [seq, doc] : docs_) all.push_back(doc);
    sink_->Publish(all);
  }
  for (auto it = servers_.begin(); it != servers_.end();) {
    const std::string routing = it->first;
    Server& s = it->second;
    ++it;  // Send forgets a server that is gone
    Pump(routing, s, now);
  }
}

bool PublicServers::Send(const std::string& routing, const v1::Envelope& env, TimePoint now) {
  switch (connections_.Reply(routing, Encoded(env), now)) {
    case SendOutcome::kGone:
      servers_.erase(routing);
      return false;
    case SendOutcome::kFull:
      return false;
    case SendOutcome::kSent:
      break;
  }
  return true;
}

void PublicServers::Pump(const std::string& routing, Server& s, TimePoint now) {
  if (s.sent > s.cursor) return;  // one batch at a time
  if (!signing()) return;         // the release key was revoked
  auto it = docs_.upper_bound(s.cursor);
  if (it == docs_.end()) return;
  v1::Envelope env = NewEnvelope();
  v1::PublicBatch* batch = env.mutable_public_batch();
  batch->set_after(s.cursor);
  size_t bytes = 0;
  for (; it != docs_.end() && static_cast<size_t>(batch->documents_size()) < options_.batch_documents;
       ++it) {
    size_t size = it->second.ByteSizeLong();
    if (batch->documents_size() > 0 && bytes + size > options_.batch_bytes) break;
    bytes += size;
    *batch->add_documents() = it->second;
    batch->set_last(it->first);
  }
  batch->set_head(head());
  const uint64_t last = batch->last();
  if (!Send(routing, env, now)) return;  // gone, or its queue full: tried again next time
  s.sent = last;
  s.last_sent = now;
}

Status PublicServers::OnHello(const std::string& routing, uint64_t corr,
                              const v1::PublicHello& hello, TimePoint now) {
  Status refused;
  if (signing_ == nullptr) {
    refused = Status::Unavailable(
        "this broker has no release key (public_signing_key): it serves no public server");
  } else if (!signing_->valid) {
    refused = Status::Unavailable(
        "this broker's release key was revoked: it serves no public server until it restarts "
        "with a valid one");
  } else if (hello.cursor() > head()) {
    refused = Status::InvalidArgument(fmt::format(
        "the public server holds the public stream up to {}, but this broker's ends at {}: its "
        "copy is not from this broker's store; start it with an empty data directory",
        hello.cursor(), head()));
  }
  if (!refused.ok()) {
    connections_.Reply(routing, ErrorReply(corr, refused), now);
    spdlog::warn("refused public server \"{}\": {}", hello.name(), refused.message());
    return Status::Ok();  // answered
  }
  Server& s = servers_[routing];
  s.name = hello.name();
  s.cursor = s.sent = hello.cursor();
  s.last_heard = now;
  v1::Envelope env = NewEnvelope(corr);
  v1::PublicWelcome* w = env.mutable_public_welcome();
  w->set_head(head());
  w->set_heartbeat_interval_ms(static_cast<uint32_t>(options_.heartbeat_interval.count()));
  for (const auto& k : signing_->announced) *w->add_keys() = k;
  spdlog::info("public server \"{}\" connected, holding the public stream up to {} of {}",
               hello.name(), hello.cursor(), head());
  Send(routing, env, now);
  if (auto it = servers_.find(routing); it != servers_.end()) Pump(routing, it->second, now);
  return Status::Ok();
}

Status PublicServers::OnStored(const std::string& routing, const v1::PublicStored& stored,
                               TimePoint now) {
  auto it = servers_.find(routing);
  if (it == servers_.end()) {
    return Status::InvalidArgument("say hello (public_hello) before public_stored");
  }
  Server& s = it->second;
  s.last_heard = now;
  if (stored.cursor() > s.sent) {
    return Status::InvalidArgument(fmt::format(
        "public_stored at {} beyond what was sent ({})", stored.cursor(), s.sent));
  }
  if (stored.cursor() > s.cursor) s.cursor = stored.cursor();
  if (s.cursor >= s.sent) s.sent = s.cursor;
  Pump(routing, s, now);
  return Status::Ok();
}

void PublicServers::KeysChanged(TimePoint now) {
  if (signing_ == nullptr) return;
  // The keys' validity as the registry has it now: a revoked release key
  // gets its valid_until, so what it signs afterwards no longer verifies.
  for (auto it = servers_.begin(); it != servers_.end();) {
    const std::string routing = it->first;
    ++it;
    v1::Envelope env = NewEnvelope();
    v1::PublicWelcome* w = env.mutable_public_welcome();
    w->set_head(head());
    w->set_heartbeat_interval_ms(static_cast<uint32_t>(options_.heartbeat_interval.count()));
    for (const auto& k : signing_->announced) *w->add_keys() = k;
    Send(routing, env, now);
  }
}

void PublicServers::ForgetIf(const std::function<bool(const std::string&)>& gone) {
  for (auto it = servers_.begin(); it != servers_.end();) {
    if (gone(it->first)) {
      spdlog::warn("public server \"{}\" no longer served: its key is no longer valid",
                   it->second.name);
      it = servers_.erase(it);
    } else {
      ++it;
    }
  }
}

void PublicServers::Tick(TimePoint now) {
  if (now < next_heartbeat_) return;
  next_heartbeat_ = now + options_.heartbeat_interval;
  const auto silent = 3 * options_.heartbeat_interval;
  for (auto it = servers_.begin(); it != servers_.end();) {
    Server& s = it->second;
    if (now - s.last_heard >= silent) {
      spdlog::warn("public server \"{}\" silent for {}; forgotten until it says hello",
                   s.name, FormatDuration(silent));
      it = servers_.erase(it);
      continue;
    }
    if (s.sent > s.cursor && now - s.last_sent >= silent) {
      spdlog::warn("public server \"{}\" stored nothing of a batch in {}; sending it again",
                   s.name, FormatDuration(silent));
      s.sent = s.cursor;
    }
    ++it;
  }
  for (auto it = servers_.begin(); it != servers_.end();) {
    const std::string routing = it->first;
    Server& s = it->second;
    ++it;  // Send may forget the server
    if (s.sent <= s.cursor && docs_.upper_bound(s.cursor) != docs_.end()) {
      Pump(routing, s, now);
      continue;
    }
    v1::Envelope env = NewEnvelope();
    v1::PublicBatch* beat = env.mutable_public_batch();
    beat->set_after(s.cursor);
    beat->set_last(s.cursor);
    beat->set_head(head());
    Send(routing, env, now);
  }
}

}  // namespace flatcast::broker
