#include "public_release.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "public_hold.h"

namespace flatcast::broker {

namespace {

// A release that could not be stored is tried again after this.
constexpr auto kReleaseRetry = std::chrono::seconds(1);

bool IsPublic(v1::PublicRecord::State state) {
  return state == v1::PublicRecord::RELEASED || state == v1::PublicRecord::CANCELLED_AFTER_RELEASE;
}

}  // namespace

const v1::PublicRecord* PublicRelease::Find(const std::string& id) const {
  auto it = records_.find(id);
  return it == records_.end() ? nullptr : &it->second;
}

void PublicRelease::Clear() {
  records_.clear();
  holds_.clear();
  releasing_.clear();
  feed_changed_.clear();
  public_head_ = 0;
  servers_.Clear();
}

void PublicRelease::Set(const v1::PublicRecord& r) {
  auto it = records_.find(r.directive_id());
  if (it != records_.end() && it->second.state() == v1::PublicRecord::HELD) {
    holds_.erase({FromTimestamp(it->second.release_at()), r.directive_id()});
  }
  if (IsPublic(r.state()) || (it != records_.end() && IsPublic(it->second.state()))) {
    feed_changed_.insert(r.directive_id());
  }
  public_head_ = std::max(public_head_, r.public_seq());
  records_[r.directive_id()] = r;
  if (r.state() == v1::PublicRecord::HELD) {
    holds_.emplace(FromTimestamp(r.release_at()), r.directive_id());
  }
}

void PublicRelease::ReleaseDue(TimePoint now) {
  if (now < retry_after_) return;
  for (const auto& [due, id] : holds_) {
    if (due > now) break;
    if (!releasing_.insert(id).second) continue;
    changes_.Submit([this, id = id](ChangeQueue::Finished finished) {
      Release(id, clock_.Now(), std::move(finished));
    });
  }
}

void PublicRelease::Release(const std::string& id, TimePoint now, ChangeQueue::Finished finished) {
  auto it = records_.find(id);
  // A lifecycle change may have cancelled the hold or moved it since.
  if (it == records_.end() || it->second.state() != v1::PublicRecord::HELD ||
      FromTimestamp(it->second.release_at()) > now) {
    releasing_.erase(id);
    finished();
    return;
  }
  v1::PublicRecord r = it->second;
  const TimePoint due = FromTimestamp(r.release_at());
  const DirectiveState* latest = index_.Find(r.latest_seq());
  const auto& d = latest->stored.directive();
  std::string key = "public/" + d.issuer_unit() + "-" + d.issuer_department() + "-" +
                    FormatTime(now).substr(0, 10);
  uint32_t n = index_.Counter(key) + 1;
  auto late = std::chrono::duration_cast<std::chrono::milliseconds>(DifferenceSaturating(now, due));
  r.set_state(v1::PublicRecord::RELEASED);
  *r.mutable_released_at() = ToTimestamp(now);
  r.set_late_by_ms(late.count());
  r.set_released_version(d.version());
  std::string date = FormatTime(now).substr(0, 10);
  date.erase(std::remove(date.begin(), date.end(), '-'), date.end());
  r.set_public_id(fmt::format("{}-{}-{}-P{:04d}", d.issuer_unit(), d.issuer_department(), date, n));
  StampPublicChange(r, latest->stored);
  auto e = Event(v1::LifecycleEvent::RELEASED);
  Stamp(e, latest->stored, now, "");
  *e.mutable_release_at() = ToTimestamp(due);
  e.set_late_by_ms(late.count());
  StoreWrite w;
  w.counters.emplace_back(key, n);
  w.public_records.push_back(r);
  w.events.push_back(e);
  commits_.Commit(std::move(w), [this, r, key, n, late, now,
                                 finished = std::move(finished)](const Status& st) {
    releasing_.erase(r.directive_id());
    if (!st.ok()) {
      spdlog::error("release of {} postponed, tried again in {}: {}", r.directive_id(),
                    FormatDuration(kReleaseRetry), st.ToString());
      retry_after_ = now + kReleaseRetry;
      finished();
      return;
    }
    index_.SetCounter(key, n);
    Set(r);
    metrics_.Released();
    if (late > std::chrono::seconds(1)) {
      spdlog::warn("released {} as {} late by {}", r.directive_id(), r.public_id(),
                   FormatDuration(late));
    } else {
      spdlog::info("released {} as {}", r.directive_id(), r.public_id());
    }
    finished();
  });
}

void PublicRelease::StampPublicChange(v1::PublicRecord& record,
                                      const v1::StoredDirective& latest) const {
  record.set_public_seq(NextPublicSeq());
  // The regions the public saw it in before, for the event of a version
  // that leaves some of them.
  v1::PublicDocument before;
  const bool had_before = !record.document().empty() && before.ParseFromString(record.document());
  record.clear_document();
  auto doc = servers_.Render(PublicEntry{latest, record});
  if (doc.ok() && had_before) {
    for (const std::string& code : before.scope()) {
      if (std::find(doc->scope().begin(), doc->scope().end(), code) == doc->scope().end()) {
        doc->add_withdrawn_from(code);
      }
    }
  }
  if (!doc.ok()) {
    // Rendered again each time it is sent; never without its record.
    spdlog::error("public documents of {} not rendered: {}", record.directive_id(),
                  doc.status().ToString());
    return;
  }
  record.set_document(doc->SerializeAsString());
}

void PublicRelease::NumberUnnumbered() {
  std::vector<const v1::PublicRecord*> unnumbered;
  for (const auto& [id, r] : records_) {
    if (IsPublic(r.state()) && r.public_seq() == 0) unnumbered.push_back(&r);
  }
  if (unnumbered.empty() || numbering_) return;
  numbering_ = true;
  changes_.Submit([this](ChangeQueue::Finished finished) {
    std::vector<v1::PublicRecord> numbered;
    for (const auto& [id, r] : records_) {
      if (IsPublic(r.state()) && r.public_seq() == 0) numbered.push_back(r);
    }
    std::sort(numbered.begin(), numbered.end(), [](const auto& a, const auto& b) {
      return std::pair(FromTimestamp(a.released_at()), a.public_id()) <
             std::pair(FromTimestamp(b.released_at()), b.public_id());
    });
    uint64_t next = NextPublicSeq();
    for (auto& r : numbered) {
      r.set_public_seq(next++);
      auto doc = servers_.Render(PublicEntry{index_.Find(r.latest_seq())->stored, r});
      if (doc.ok()) r.set_document(doc->SerializeAsString());
    }
    StoreWrite w;
    w.public_records = numbered;
    commits_.Commit(std::move(w), [this, numbered, finished = std::move(finished)](const Status& st) {
      numbering_ = false;
      if (!st.ok()) {
        spdlog::error("public records not numbered in the public stream: {}", st.ToString());
      } else {
        for (const auto& r : numbered) Set(r);
        spdlog::info("numbered {} public records released before the public stream was kept",
                     numbered.size());
      }
      finished();
    });
  });
}

void PublicRelease::FlushFeed() {
  if (!feed_changed_.empty()) {
    for (const std::string& id : feed_changed_) {
      auto it = records_.find(id);
      if (it == records_.end() || !IsPublic(it->second.state()) || it->second.public_seq() == 0) {
        continue;  // an unnumbered record goes once NumberUnnumbered stored its number
      }
      servers_.Update(PublicEntry{index_.Find(it->second.latest_seq())->stored, it->second});
    }
    feed_changed_.clear();
  }
  servers_.Flush(clock_.Now());
}

}  // namespace flatcast::broker
