// The public hold's decisions, apart from the broker's loop: when a new
// directive becomes public and what a lifecycle request changes. Pure
// functions of their inputs; the broker stores and applies what they decide.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/broker/publishers.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"
#include "flatcast/status.h"

namespace flatcast::broker {

namespace v1 = ::flatcast::v1;

// Sets a new directive's public release time (sent + `lead_time`, or the
// later time asked for; earlier only as an emergency) and the record's state,
// and lists the lifecycle events to store. InvalidArgument or
// PermissionDenied (a missing right) says why a request is refused.
Status DecideRelease(const v1::PublishRequest& req, const Publisher* publisher, TimePoint now,
                     std::chrono::milliseconds lead_time, v1::Directive& d,
                     v1::PublicRecord& record, std::vector<v1::LifecycleEvent>& events);

// Ok when `publisher` has the emergency right and gave a reason.
Status CheckEmergency(const std::string& name, const Publisher* publisher,
                      const std::string& reason);

// Decides what AMEND, CANCEL, EXTEND_HOLD or RELEASE_EARLY of the directive
// whose latest version is `latest` does: the next version's content in
// `next` (id, version and sent are the caller's), the new public record, the
// event. `check_amendment` validates an amendment's content (registry,
// signature). Errors as for DecideRelease.
Status PlanTransition(const v1::LifecycleRequest& req, const Publisher* publisher, TimePoint now,
                      const v1::Directive& latest,
                      const std::function<Status(const v1::Directive&)>& check_amendment,
                      v1::Directive& next, v1::PublicRecord& record, v1::LifecycleEvent& event);

// A lifecycle event of `kind`, and the fields every event carries.
v1::LifecycleEvent Event(v1::LifecycleEvent::Kind kind);
void Stamp(v1::LifecycleEvent& e, const v1::StoredDirective& stored, TimePoint now,
           const std::string& publisher);

}  // namespace flatcast::broker
