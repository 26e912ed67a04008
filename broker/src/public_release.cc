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
  feed_changed_ = true;
}

void PublicRelease::Set(const v1::PublicRecord& r) {
  auto it = records_.find(r.directive_id());
  if (it != records_.end() && it->second.state() == v1::PublicRecord::HELD) {
    holds_.erase({FromTimestamp(it->second.release_at()), r.directive_id()});
  }
  if (IsPublic(r.state()) || (it != records_.end() && IsPublic(it->second.state()))) {
    feed_changed_ = true;
  }
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

void PublicRelease::FlushFeed() {
  if (!feed_ || !feed_changed_) return;
  feed_changed_ = false;
  feed_->Publish(BuildFeedSnapshot(
      records_,
      [&](uint64_t seq) -> const v1::StoredDirective& { return index_.Find(seq)->stored; },
      registry_, ++feed_generation_));
}

}  // namespace flatcast::broker
