#include "flatcast/broker/query_port.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "replies.h"

namespace flatcast::broker {

namespace {

template <typename Reply>
Result<v1::Envelope> Wrap(Result<Reply> reply, Reply* (v1::Envelope::*field)()) {
  if (!reply.ok()) return reply.status();
  v1::Envelope env;
  *(env.*field)() = std::move(reply).value();
  return env;
}

Result<v1::Envelope> Answer(const AuditQueries& queries, const QueryJob& job) {
  const v1::Envelope& req = job.request;
  switch (req.body_case()) {
    case v1::Envelope::kAuditRequest:
      return Wrap(queries.Run(req.audit_request()), &v1::Envelope::mutable_audit_reply);
    case v1::Envelope::kCoverageQuery:
      return Wrap(queries.Coverage(req.coverage_query(), job.connected_now),
                  &v1::Envelope::mutable_coverage_reply);
    case v1::Envelope::kEventsQuery:
      return Wrap(queries.Events(req.events_query()), &v1::Envelope::mutable_events_reply);
    default:
      return Status::InvalidArgument("not a query");
  }
}

}  // namespace

Payload AnswerQuery(const AuditQueries& queries, const QueryJob& job) {
  const auto started = std::chrono::steady_clock::now();
  Result<v1::Envelope> answer = Answer(queries, job);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  const uint64_t corr = job.request.correlation_id();
  if (!answer.ok()) {
    spdlog::info("query refused ({} ms): {}", ms, answer.status().message());
    return ErrorReply(corr, answer.status());
  }
  spdlog::debug("query answered in {} ms", ms);
  answer->set_protocol_version(NewEnvelope().protocol_version());
  answer->set_correlation_id(corr);
  return Encoded(*answer);
}

Status InlineQueryPort::Submit(QueryJob job) {
  answers_.push_back({job.routing, AnswerQuery(queries_, job)});
  return Status::Ok();
}

std::vector<QueryAnswer> InlineQueryPort::TakeAnswers() { return std::exchange(answers_, {}); }

}  // namespace flatcast::broker
