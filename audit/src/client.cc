#include "flatcast/audit/client.h"

#include <fmt/format.h>

#include "flatcast/broker/audit_queries.h"
#include "flatcast/broker/store.h"
#include "flatcast/clock.h"
#include "flatcast/registry.h"

namespace flatcast::audit {

Result<v1::ClusterReply> AskCluster(RpcClient& client, std::chrono::milliseconds timeout) {
  v1::Envelope env;
  env.mutable_cluster_query();
  auto reply = client.Call(env, timeout);
  if (!reply.ok()) return reply.status();
  if (!reply->has_cluster_reply()) return Status::Internal("the broker answered with no cluster state");
  return reply->cluster_reply();
}

Result<v1::AuditReply> Ask(RpcClient& client, const v1::AuditRequest& request,
                           std::chrono::milliseconds timeout) {
  v1::Envelope env;
  *env.mutable_audit_request() = request;
  Result<v1::Envelope> reply = client.Call(env, timeout);
  if (!reply.ok()) return reply.status();
  if (!reply->has_audit_reply()) return Status::Internal("the broker answered with no audit reply");
  return reply->audit_reply();
}

Result<v1::MissingReply> FetchMissing(RpcClient& client, v1::MissingQuery query, uint32_t page,
                                      bool all, std::chrono::milliseconds timeout,
                                      std::ostream* progress) {
  v1::MissingReply result;
  query.set_offset(0);
  query.set_limit(page);
  while (true) {
    v1::AuditRequest request;
    *request.mutable_missing() = query;
    Result<v1::AuditReply> reply = Ask(client, request, timeout);
    if (!reply.ok()) return reply.status();
    const v1::MissingReply& part = reply->missing();
    if (query.offset() == 0) {
      result = part;
    } else {
      for (const v1::UnitRef& unit : part.units()) *result.add_units() = unit;
    }
    uint32_t have = query.offset() + static_cast<uint32_t>(part.units_size());
    if (progress != nullptr && (all && part.total() > page)) {
      *progress << fmt::format("missing: {} of {} units\n", have, part.total()) << std::flush;
    }
    if (!all || part.units_size() == 0 || have >= part.total()) break;
    query.set_offset(have);
  }
  return result;
}

Result<v1::LogReply> FetchLog(RpcClient& client, v1::LogQuery query, bool all,
                              std::chrono::milliseconds timeout, std::ostream* progress) {
  v1::LogReply result;
  bool first = true;
  while (true) {
    v1::AuditRequest request;
    *request.mutable_log() = query;
    Result<v1::AuditReply> reply = Ask(client, request, timeout);
    if (!reply.ok()) return reply.status();
    const v1::LogReply& part = reply->log();
    for (const v1::LogRecord& r : part.records()) *result.add_records() = r;
    result.set_head_log_seq(part.head_log_seq());
    result.set_more(part.more());
    if (progress != nullptr && all && (part.more() || !first)) {
      uint64_t at = part.records_size() > 0 ? part.records().rbegin()->log_seq() : 0;
      *progress << fmt::format("log: {} records read, at record {} of {}\n",
                               result.records_size(), at, part.head_log_seq())
                << std::flush;
    }
    first = false;
    if (!all || !part.more() || part.records_size() == 0) break;
    query.set_after_log_seq(part.records().rbegin()->log_seq());
    query.clear_since();  // the page boundary replaces the start time
  }
  return result;
}

Result<v1::VerifyReply> VerifyStore(const std::string& data_dir, const v1::VerifyQuery& query) {
  broker::StoreOptions options;
  options.path = data_dir;
  options.read_only = true;
  Result<std::unique_ptr<broker::Store>> store = broker::Store::Open(options);
  if (!store.ok()) return store.status();
  Registry none;
  broker::AuditQueries queries(**store, none, SystemClock::Instance());
  return queries.Verify(query);
}

Status ParseAnchor(const std::string& text, v1::VerifyQuery& query) {
  size_t colon = text.find(':');
  auto bad = [&] {
    return Status::InvalidArgument(fmt::format(
        "anchor \"{}\" must be SEQ:HASH, the log sequence number and the 64 hex digits of its "
        "hash as `flatcast-audit verify` prints them",
        text));
  };
  if (colon == std::string::npos || colon == 0) return bad();
  uint64_t seq = 0;
  for (char c : text.substr(0, colon)) {
    if (c < '0' || c > '9') return bad();
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  std::string hex = text.substr(colon + 1);
  if (hex.size() != 64) return bad();
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return bad();
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  query.set_anchor_log_seq(seq);
  query.set_anchor_hash(bytes);
  return Status::Ok();
}

}  // namespace flatcast::audit
