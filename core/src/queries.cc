#include "flatcast/queries.h"

namespace flatcast {

Result<v1::CoverageReply> QueryCoverage(RpcClient& client, const std::string& directive_id,
                                        const std::string& region, uint32_t max_missing,
                                        std::chrono::milliseconds timeout) {
  v1::Envelope env;
  auto* q = env.mutable_coverage_query();
  q->set_directive_id(directive_id);
  q->set_region(region);
  q->set_max_missing(max_missing);
  auto reply = client.Call(env, timeout);
  if (!reply.ok()) return reply.status();
  if (!reply->has_coverage_reply()) return Status::Internal("broker answered with no coverage");
  return reply->coverage_reply();
}

Result<v1::EventsReply> QueryEvents(RpcClient& client, const std::string& directive_id,
                                    std::chrono::milliseconds timeout) {
  v1::Envelope env;
  env.mutable_events_query()->set_directive_id(directive_id);
  auto reply = client.Call(env, timeout);
  if (!reply.ok()) return reply.status();
  if (!reply->has_events_reply()) return Status::Internal("broker answered with no events");
  return reply->events_reply();
}

}  // namespace flatcast
