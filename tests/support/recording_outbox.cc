#include "recording_outbox.h"

#include <stdexcept>

#include "flatcast/wire.h"

namespace flatcast::testing {

namespace {

v1::Envelope Decoded(const broker::Payload& bytes) {
  auto env = wire::Decode(*bytes, bytes->size());
  return env.ok() ? env.value() : v1::Envelope();
}

}  // namespace

broker::SendOutcome RecordingOutbox::Send(const std::string& routing, const broker::Payload& bytes) {
  if (gone_.contains(routing)) return broker::SendOutcome::kGone;
  auto& queue = queues_[routing];
  if (auto limit = limits_.find(routing); limit != limits_.end() && queue.size() >= limit->second) {
    ++refused_full_;
    return broker::SendOutcome::kFull;
  }
  queue.push_back(bytes);
  ++sent_total_;
  return broker::SendOutcome::kSent;
}

std::vector<v1::Envelope> RecordingOutbox::TakeAll(const std::string& routing) {
  std::vector<v1::Envelope> out;
  auto it = queues_.find(routing);
  if (it == queues_.end()) return out;
  for (const auto& bytes : it->second) out.push_back(Decoded(bytes));
  it->second.clear();
  return out;
}

std::optional<v1::Envelope> RecordingOutbox::TakeNext(const std::string& routing) {
  auto it = queues_.find(routing);
  if (it == queues_.end() || it->second.empty()) return std::nullopt;
  v1::Envelope env = Decoded(it->second.front());
  it->second.pop_front();
  return env;
}

std::optional<v1::Envelope> RecordingOutbox::TakeFirst(
    const std::string& routing, const std::function<bool(const v1::Envelope&)>& match) {
  auto it = queues_.find(routing);
  if (it == queues_.end()) return std::nullopt;
  for (auto q = it->second.begin(); q != it->second.end(); ++q) {
    v1::Envelope env = Decoded(*q);
    if (!match(env)) continue;
    it->second.erase(q);
    return env;
  }
  return std::nullopt;
}

size_t RecordingOutbox::queued(const std::string& routing) const {
  auto it = queues_.find(routing);
  return it == queues_.end() ? 0 : it->second.size();
}

void RecordingFeed::Publish(const std::vector<v1::PublicDocument>& documents) {
  documents_ = documents;
  auto site = feed::Site::Build(documents, keys_, registry_, latest_.get());
  if (!site.ok()) throw std::runtime_error("public site: " + site.status().ToString());
  latest_ = *site;
  ++published_;
}

const feed::Site& RecordingFeed::latest() const {
  if (!latest_) {
    auto empty = feed::Site::Build({}, keys_, registry_);
    const_cast<RecordingFeed*>(this)->latest_ = *empty;
  }
  return *latest_;
}

}  // namespace flatcast::testing
