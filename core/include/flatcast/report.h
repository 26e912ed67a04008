// Renderings of broker answers shared by the publisher and audit CLIs:
// a readable table, JSON and CSV.
#pragma once

#include <string>
#include <string_view>

#include "flatcast.pb.h"

namespace flatcast {

enum class OutputFormat { kTable, kJson, kCsv };

std::string ReceiptToJson(const v1::PublishReceipt& r);
std::string ReceiptToText(const v1::PublishReceipt& r);

std::string LifecycleReplyToJson(const v1::LifecycleReply& r);
std::string LifecycleReplyToText(const v1::LifecycleReply& r);

// Lifecycle events, one a line (table) or as JSON / CSV.
std::string RenderEvents(const v1::EventsReply& r, OutputFormat format);

// Coverage of a directive: per tier addressed / acknowledged / percent, then
// the units that have not acknowledged (as many as the reply lists).
std::string RenderCoverage(const v1::CoverageReply& r, OutputFormat format);

// "province" ... "community"; `unknown` for any other value (proto3 enums are open).
std::string TierLabel(v1::Tier t, std::string_view unknown = "unknown");

// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a newline.
std::string CsvField(const std::string& s);

}  // namespace flatcast
