#include "flatcast/subscriber/inbox.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

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

bool IndexedInbox::Contains(std::string_view id, uint32_t version) const {
  return entries_.count(Key(std::string(id), version)) > 0;
}

const PendingAck* IndexedInbox::FindPendingAck(uint64_t seq, v1::AckLevel level) const {
  auto it = pending_.find(AckKey(seq, level));
  return it == pending_.end() ? nullptr : &it->second;
}

std::vector<PendingAck> IndexedInbox::PendingAcks() const {
  std::vector<PendingAck> out;
  out.reserve(pending_.size());
  for (const auto& [key, ack] : pending_) out.push_back(ack);
  return out;
}

std::vector<InboxEntry> IndexedInbox::List() const {
  std::vector<InboxEntry> out;
  out.reserve(entries_.size());
  for (const auto& [key, entry] : entries_) out.push_back(entry);
  std::stable_sort(out.begin(), out.end(),
                   [](const InboxEntry& a, const InboxEntry& b) { return a.seq < b.seq; });
  return out;
}

Status IndexedInbox::CheckNotStored(const v1::Directive& directive) const {
  if (Contains(directive.id(), directive.version())) {
    return Status::AlreadyExists(
        fmt::format("directive {} v{} is stored already", directive.id(), directive.version()));
  }
  return Status::Ok();
}

void IndexedInbox::AddEntry(InboxEntry entry) {
  RaiseLastSeq(entry.seq);
  Key key(entry.id, entry.version);
  entries_.emplace(std::move(key), std::move(entry));
}

void IndexedInbox::RaiseLastSeq(uint64_t seq) { last_seq_ = std::max(last_seq_, seq); }

std::optional<PendingAck> IndexedInbox::SetPendingAck(const PendingAck& ack) {
  std::optional<PendingAck> replaced;
  auto [it, inserted] = pending_.try_emplace(AckKey(ack.seq, ack.level), ack);
  if (!inserted) replaced = std::exchange(it->second, ack);
  return replaced;
}

std::optional<PendingAck> IndexedInbox::TakePendingAck(uint64_t seq, v1::AckLevel level) {
  auto it = pending_.find(AckKey(seq, level));
  if (it == pending_.end()) return std::nullopt;
  PendingAck taken = std::move(it->second);
  pending_.erase(it);
  return taken;
}

Status MemoryInbox::Put(const v1::StoredDirective& stored) {
  const v1::Directive& d = stored.directive();
  if (d.id().empty()) return Status::InvalidArgument("directive has no id");
  FLATCAST_RETURN_IF_ERROR(CheckNotStored(d));
  InboxEntry entry;
  if (keep_directives_) {
    entry = EntryOf(stored);
  } else {
    entry.seq = stored.seq();
    entry.id = d.id();
    entry.version = d.version();
  }
  AddEntry(std::move(entry));
  ++put_count_;
  return Status::Ok();
}

Status MemoryInbox::AddPendingAck(const PendingAck& ack) {
  SetPendingAck(ack);
  return Status::Ok();
}

Result<bool> MemoryInbox::RemovePendingAck(uint64_t seq, v1::AckLevel level) {
  return TakePendingAck(seq, level).has_value();
}

}  // namespace flatcast::subscriber
