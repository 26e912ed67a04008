#include "public_hold.h"

#include <fmt/format.h>

#include <algorithm>

#include "flatcast/directive.h"
#include "flatcast/duration.h"
#include "flatcast/public_view.h"

namespace flatcast::broker {

Status DecideRelease(const v1::PublishRequest& req, const Publisher* publisher, TimePoint now,
                     std::chrono::milliseconds lead_time, v1::Directive& d,
                     v1::PublicRecord& record, std::vector<v1::LifecycleEvent>& events) {
  if (!d.is_public()) {
    if (d.has_public_release()) {
      return Status::InvalidArgument("public_release is set but the directive is not public");
    }
    if (req.emergency())
      return Status::InvalidArgument("--emergency applies to public directives only");
    record.set_state(v1::PublicRecord::INTERNAL_ONLY);
    events.push_back(Event(v1::LifecycleEvent::PUBLISHED));
    return Status::Ok();
  }
  TimePoint earliest = AddSaturating(now, lead_time);
  TimePoint release = d.has_public_release() ? FromTimestamp(d.public_release())
                                             : (req.emergency() ? now : earliest);
  if (release < now - std::chrono::seconds(1)) {
    return Status::InvalidArgument("public release time " + FormatTime(release) +
                                   " is in the past");
  }
  release = std::max(release, now);
  auto lead = std::chrono::duration_cast<std::chrono::milliseconds>(DifferenceSaturating(release, now));
  bool shortened = release < earliest;
  if (shortened) {
    if (!req.emergency()) {
      return Status::InvalidArgument(
          "public release " + FormatTime(release) + " is before the earliest allowed " +
          FormatTime(earliest) + " (internal lead time " + FormatDuration(lead_time) +
          "); only a publisher with the emergency right may shorten it, with --emergency --reason");
    }
    FLATCAST_RETURN_IF_ERROR(CheckEmergency(req.publisher(), publisher, req.emergency_reason()));
  }
  *d.mutable_public_release() = ToTimestamp(release);
  record.set_state(v1::PublicRecord::HELD);
  *record.mutable_release_at() = ToTimestamp(release);
  events.push_back(Event(v1::LifecycleEvent::PUBLISHED));
  auto hold = Event(v1::LifecycleEvent::HOLD_SET);
  *hold.mutable_release_at() = ToTimestamp(release);
  hold.set_lead_ms(lead.count());
  events.push_back(hold);
  if (shortened) {
    auto e = Event(v1::LifecycleEvent::EMERGENCY_SHORTENED);
    e.set_reason(req.emergency_reason());
    *e.mutable_release_at() = ToTimestamp(release);
    e.set_lead_ms(lead.count());
    events.push_back(e);
  }
  return Status::Ok();
}

Status CheckEmergency(const std::string& name, const Publisher* publisher,
                      const std::string& reason) {
  if (reason.empty()) return Status::InvalidArgument("an emergency needs a reason (--reason)");
  if (publisher == nullptr || !publisher->emergency) {
    return Status::PermissionDenied("publisher \"" + name + "\" has no emergency right");
  }
  return Status::Ok();
}

v1::LifecycleEvent Event(v1::LifecycleEvent::Kind kind) {
  v1::LifecycleEvent e;
  e.set_kind(kind);
  return e;
}

void Stamp(v1::LifecycleEvent& e, const v1::StoredDirective& stored, TimePoint now,
           const std::string& publisher) {
  e.set_directive_id(stored.directive().id());
  e.set_version(stored.directive().version());
  e.set_directive_seq(stored.seq());
  *e.mutable_at() = ToTimestamp(now);
  e.set_publisher(publisher);
}

Status CheckStatusChange(const v1::LifecycleRequest& req, v1::DirectiveStatus from,
                         v1::DirectiveStatus to) {
  if (from == to) {
    if (req.change_status()) {
      return Status::InvalidArgument(fmt::format(
          "the status change was asked for, but the status stays {}", StatusName(from)));
    }
    return Status::Ok();
  }
  if (!req.change_status()) {
    return Status::InvalidArgument(fmt::format(
        "the amendment would change the status from {} to {}; the status is kept unless changed "
        "explicitly (flatcast-publisher amend --status {} --change-status --reason ...)",
        StatusName(from), StatusName(to), StatusName(to)));
  }
  if (req.reason().empty()) {
    return Status::InvalidArgument("a status change needs a reason (--reason), kept for audit");
  }
  if (to == v1::ACTUAL && !req.confirm_actual()) {
    return Status::InvalidArgument(fmt::format(
        "the amendment turns a {} directive into an ACTUAL one: every addressed unit will act on "
        "it; confirm with --confirm-actual",
        StatusName(from)));
  }
  return Status::Ok();
}

Status PlanTransition(const v1::LifecycleRequest& req, const Publisher* publisher, TimePoint now,
                      const v1::Directive& latest,
                      const std::function<Status(const v1::Directive&)>& check_amendment,
                      v1::Directive& next, v1::PublicRecord& record, v1::LifecycleEvent& event) {
  next = latest;
  bool held = record.state() == v1::PublicRecord::HELD;
  switch (req.action()) {
    case v1::LifecycleRequest::AMEND: {
      v1::Directive amended = req.directive();
      if (!amended.id().empty() && amended.id() != req.directive_id()) {
        return Status::InvalidArgument("the amendment names another id: " + amended.id());
      }
      amended.clear_id();
      amended.clear_changes();  // the broker describes the changes itself
      if (req.base_version() == 0) {
        return Status::InvalidArgument(
            "an amendment names the version it changes (base_version); flatcast-publisher "
            "amend sets it from the latest version it fetched");
      }
      if (req.base_version() > latest.version()) {
        return Status::NotFound(fmt::format("directive {} has no version {} (the latest is {})",
                                            req.directive_id(), req.base_version(),
                                            latest.version()));
      }
      if (req.base_version() != latest.version()) {
        return Status::InvalidArgument(fmt::format(
            "the amendment was made from version {} of {}, but version {} was published since; "
            "look at it (flatcast-publisher show {}) and amend again",
            req.base_version(), req.directive_id(), latest.version(), req.directive_id()));
      }
      if (amended.issuer_unit() != next.issuer_unit() ||
          amended.issuer_department() != next.issuer_department()) {
        return Status::InvalidArgument(fmt::format(
            "an amendment keeps the issuer ({} {}, not {} {}); for another issuer cancel this "
            "directive and publish a new one",
            next.issuer_unit(), next.issuer_department(), amended.issuer_unit(),
            amended.issuer_department()));
      }
      if (amended.is_public() != next.is_public()) {
        return Status::InvalidArgument(
            "an amendment cannot change whether the directive is public; cancel it "
            "and publish a new one");
      }
      // The public release time only moves through extend and release-early.
      if (amended.has_public_release() &&
          FromTimestamp(amended.public_release()) != FromTimestamp(next.public_release())) {
        return Status::InvalidArgument(
            "an amendment keeps the public release time; use extend or "
            "release-early to move it");
      }
      FLATCAST_RETURN_IF_ERROR(CheckStatusChange(req, latest.status(), amended.status()));
      std::vector<std::string> changes = DescribeChanges(latest, amended);
      if (changes.empty()) {
        return Status::InvalidArgument(fmt::format(
            "the amendment changes nothing from version {} of {}; give the fields to change "
            "(--title, --body, --action, --scope, ...)",
            latest.version(), req.directive_id()));
      }
      FLATCAST_RETURN_IF_ERROR(check_amendment(amended));
      *amended.mutable_public_release() = next.public_release();
      next = std::move(amended);
      for (auto& line : changes) next.add_changes(std::move(line));
      event = Event(v1::LifecycleEvent::AMENDED);
      break;
    }
    case v1::LifecycleRequest::CANCEL:
      next.set_msg_type(v1::CANCEL);
      event = Event(v1::LifecycleEvent::CANCELLED);
      if (record.state() == v1::PublicRecord::RELEASED) {
        record.set_state(v1::PublicRecord::CANCELLED_AFTER_RELEASE);
      } else {
        record.set_state(v1::PublicRecord::CANCELLED_BEFORE_RELEASE);
      }
      *record.mutable_cancelled_at() = ToTimestamp(now);
      break;
    case v1::LifecycleRequest::EXTEND_HOLD: {
      if (!held) {
        return Status::InvalidArgument("only a held directive's release can be extended (" +
                                       req.directive_id() + " is " +
                                       v1::PublicRecord::State_Name(record.state()) + ")");
      }
      if (!req.has_public_release()) {
        return Status::InvalidArgument("extend needs the new public release time (--until)");
      }
      TimePoint until = FromTimestamp(req.public_release());
      if (until <= FromTimestamp(record.release_at())) {
        return Status::InvalidArgument("the new release time " + FormatTime(until) +
                                       " is not later than the current one " +
                                       FormatTime(FromTimestamp(record.release_at())));
      }
      *next.mutable_public_release() = req.public_release();
      *record.mutable_release_at() = req.public_release();
      event = Event(v1::LifecycleEvent::HOLD_EXTENDED);
      *event.mutable_release_at() = req.public_release();
      break;
    }
    case v1::LifecycleRequest::RELEASE_EARLY: {
      if (!held) {
        return Status::InvalidArgument("only a held directive can be released early (" +
                                       req.directive_id() + " is " +
                                       v1::PublicRecord::State_Name(record.state()) + ")");
      }
      FLATCAST_RETURN_IF_ERROR(CheckEmergency(req.publisher(), publisher, req.reason()));
      TimePoint at = req.has_public_release() ? FromTimestamp(req.public_release()) : now;
      if (at < now - std::chrono::seconds(1)) {
        return Status::InvalidArgument("release time " + FormatTime(at) + " is in the past");
      }
      at = std::max(at, now);
      if (at >= FromTimestamp(record.release_at())) {
        return Status::InvalidArgument("release time " + FormatTime(at) +
                                       " is not earlier than the current one; use extend");
      }
      *next.mutable_public_release() = ToTimestamp(at);
      *record.mutable_release_at() = ToTimestamp(at);
      event = Event(v1::LifecycleEvent::RELEASED_EARLY);
      *event.mutable_release_at() = ToTimestamp(at);
      event.set_lead_ms(
          std::chrono::duration_cast<std::chrono::milliseconds>(
              DifferenceSaturating(at, FromTimestamp(latest.sent())))
              .count());
      break;
    }
    default:
      return Status::InvalidArgument("unknown lifecycle action");
  }
  return Status::Ok();
}

}  // namespace flatcast::broker
