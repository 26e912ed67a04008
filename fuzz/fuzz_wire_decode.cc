// Bytes as they arrive on the broker's or a client's socket: wire::Decode,
// then what the receiver does with each body.
#include <cstddef>
#include <cstdint>

#include "exercise.h"
#include "flatcast/audit/reports.h"
#include "flatcast/duration.h"
#include "flatcast/report.h"
#include "flatcast/wire.h"

using namespace flatcast;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result<v1::Envelope> decoded = wire::Decode(fuzz::AsView(data, size));
  if (!decoded.ok()) return 0;
  const v1::Envelope& env = *decoded;
  (void)wire::BodyName(env);
  (void)wire::Encode(env);
  switch (env.body_case()) {
    case v1::Envelope::kDeliver:
      fuzz::ExerciseStoredDirective(env.deliver().directive());
      break;
    case v1::Envelope::kPublish:
      fuzz::ExerciseSubmittedDirective(env.publish().directive());
      break;
    case v1::Envelope::kLifecycle:
      fuzz::ExerciseSubmittedDirective(env.lifecycle().directive());
      (void)FromTimestamp(env.lifecycle().public_release());
      break;
    case v1::Envelope::kAck:
      (void)FromTimestamp(env.ack().acked());
      break;
    case v1::Envelope::kReceipt:
      (void)ReceiptToJson(env.receipt());
      (void)ReceiptToText(env.receipt());
      break;
    case v1::Envelope::kLifecycleReply:
      (void)LifecycleReplyToJson(env.lifecycle_reply());
      (void)LifecycleReplyToText(env.lifecycle_reply());
      break;
    case v1::Envelope::kEventsReply:
      for (OutputFormat f : {OutputFormat::kTable, OutputFormat::kJson, OutputFormat::kCsv}) {
        (void)RenderEvents(env.events_reply(), f);
      }
      break;
    case v1::Envelope::kCoverageReply:
      for (OutputFormat f : {OutputFormat::kTable, OutputFormat::kJson, OutputFormat::kCsv}) {
        (void)RenderCoverage(env.coverage_reply(), f);
      }
      fuzz::ExerciseStoredDirective(env.coverage_reply().directive());
      break;
    case v1::Envelope::kAuditReply: {
      const v1::AuditReply& r = env.audit_reply();
      for (OutputFormat f : {OutputFormat::kTable, OutputFormat::kJson, OutputFormat::kCsv}) {
        (void)audit::RenderRollup(r.rollup(), f);
        (void)audit::RenderMissing(r.missing(), f);
        (void)audit::RenderLatency(r.latency(), f);
        (void)audit::RenderUnitHistory(r.unit_history(), f);
        (void)audit::RenderLog(r.log(), f);
        (void)audit::RenderReadiness(r.readiness(), f);
        (void)audit::RenderRatings(r.ratings(), true, f);
        (void)audit::RenderRatings(r.ratings(), false, f);
        (void)audit::RenderBurden(r.burden(), true, f);
        (void)audit::RenderBurden(r.burden(), false, f);
        (void)audit::RenderVerify(r.verify(), f);
      }
      break;
    }
    case v1::Envelope::kRating:
      (void)FromTimestamp(env.rating().rated());
      break;
    case v1::Envelope::kOverdueReport:
      for (const auto& item : env.overdue_report().children()) (void)FromTimestamp(item.deadline());
      break;
    case v1::Envelope::kError:
      // A broker quoting what a peer sent: the message must stay valid UTF-8.
      if (!wire::Decode(
               wire::EncodeError(env.correlation_id(), env.error().code(), env.error().message()))
               .ok()) {
        __builtin_trap();
      }
      break;
    default:
      break;
  }
  return 0;
}
