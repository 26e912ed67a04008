#include "flatcast/subscriber/inbox.h"

#include <fmt/format.h>

#include <algorithm>

#include "flatcast/duration.h"

namespace flatcast::subscriber {

InboxEntry EntryOf(const v1::StoredDirective& stored) {
  const v1::Directive& d = stored.directive();
  InboxEntry entry;
  entry.seq = stored.seq();
  entry.id = d.id();
  entry.version = d.version();
  entry.title = d.title();
  entry.issuer_unit = d.issuer_unit();
  entry.sent = FromTimestamp(d.sent());
  return entry;
}

bool MemoryInbox::Contains(std::string_view id, uint32_t version) const {
  return entries_.count(Key(std::string(id), version)) > 0;
}

Status MemoryInbox::Put(const v1::StoredDirective& stored) {
  const v1::Directive& d = stored.directive();
  if (d.id().empty()) return Status::InvalidArgument("directive has no id");
  Key key(d.id(), d.version());
  if (entries_.count(key)) {
    return Status::AlreadyExists(
        fmt::format("directive {} v{} is stored already", d.id(), d.version()));
  }
  InboxEntry entry;
  if (keep_directives_) {
    entry = EntryOf(stored);
  } else {
    entry.seq = stored.seq();
    entry.id = d.id();
    entry.version = d.version();
  }
  entries_.emplace(std::move(key), std::move(entry));
  last_seq_ = std::max(last_seq_, stored.seq());
  ++put_count_;
  return Status::Ok();
}

Status MemoryInbox::AddPendingAck(const PendingAck& ack) {
  pending_[{ack.seq, static_cast<int>(ack.level)}] = ack;
  return Status::Ok();
}

Result<bool> MemoryInbox::RemovePendingAck(uint64_t seq, v1::AckLevel level) {
  return pending_.erase({seq, static_cast<int>(level)}) > 0;
}

const PendingAck* MemoryInbox::FindPendingAck(uint64_t seq, v1::AckLevel level) const {
  auto it = pending_.find({seq, static_cast<int>(level)});
  return it == pending_.end() ? nullptr : &it->second;
}

std::vector<PendingAck> MemoryInbox::PendingAcks() const {
  std::vector<PendingAck> out;
  out.reserve(pending_.size());
  for (const auto& [key, ack] : pending_) out.push_back(ack);
  return out;
}

std::vector<InboxEntry> MemoryInbox::List() const {
  std::vector<InboxEntry> out;
  out.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) out.push_back(entry);
  std::stable_sort(out.begin(), out.end(),
                   [](const InboxEntry& a, const InboxEntry& b) { return a.seq < b.seq; });
  return out;
}

}  // namespace flatcast::subscriber
