// The audit CLI's questions to the broker's query endpoint, with paging for
// long answers, and the offline check of a store's log.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "flatcast.pb.h"
#include "flatcast/rpc_client.h"
#include "flatcast/status.h"

namespace flatcast::audit {

// A broker pair's state as one broker sees it (ClusterQuery; a standby answers too).
Result<v1::ClusterReply> AskCluster(RpcClient& client, std::chrono::milliseconds timeout);

// One audit request and its reply.
Result<v1::AuditReply> Ask(RpcClient& client, const v1::AuditRequest& request,
                           std::chrono::milliseconds timeout);

// Every missing unit, page by page (`page` units a request). With
// `progress`, a line "missing: N of M units" after each page.
Result<v1::MissingReply> FetchMissing(RpcClient& client, v1::MissingQuery query, uint32_t page,
                                      bool all, std::chrono::milliseconds timeout,
                                      std::ostream* progress);

// Log records of the query, one page or, with `all`, every page; progress
// as for FetchMissing.
Result<v1::LogReply> FetchLog(RpcClient& client, v1::LogQuery query, bool all,
                              std::chrono::milliseconds timeout, std::ostream* progress);

// Verifies the log of the store in `data_dir`, opened read-only (a stopped
// broker's store, or a copy).
Result<v1::VerifyReply> VerifyStore(const std::string& data_dir, const v1::VerifyQuery& query);

// "SEQ:HEX" (the 64 hex digits of a record's hash) into the query's anchor.
Status ParseAnchor(const std::string& text, v1::VerifyQuery& query);

}  // namespace flatcast::audit
