// Read-only questions to the broker, shared by the publisher and audit CLIs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "flatcast.pb.h"
#include "flatcast/rpc_client.h"
#include "flatcast/status.h"

namespace flatcast {

// Coverage of one directive below `region` (empty: all), listing at most
// `max_missing` units that have not acknowledged.
Result<v1::CoverageReply> QueryCoverage(RpcClient& client, const std::string& directive_id,
                                        const std::string& region, uint32_t max_missing,
                                        std::chrono::milliseconds timeout);

// Lifecycle events of one directive (all directives if `directive_id` is empty).
Result<v1::EventsReply> QueryEvents(RpcClient& client, const std::string& directive_id,
                                    std::chrono::milliseconds timeout);

}  // namespace flatcast
