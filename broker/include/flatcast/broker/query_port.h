// Where the broker's loop sends what is answered from the store: audit
// queries, coverage and lifecycle events. Scans of a national store take
// long, so the broker answers them on its query worker (a thread of its
// own); a test answers them inline.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "flatcast.pb.h"
#include "flatcast/broker/audit_queries.h"
#include "flatcast/broker/outbox.h"
#include "flatcast/status.h"

namespace flatcast::broker {

struct QueryJob {
  std::string routing;
  // Decoded and authorized by the loop: an audit request, a coverage query
  // or an events query.
  v1::Envelope request;
  // For a coverage query: the addressed units connected now, which only the
  // loop knows.
  uint32_t connected_now = 0;
};

struct QueryAnswer {
  std::string routing;
  Payload reply;
};

class QueryPort {
 public:
  virtual ~QueryPort() = default;
  // Takes a job; Unavailable when too many wait (the loop answers with it).
  virtual Status Submit(QueryJob job) = 0;
  // The answers ready now, in the order the jobs were submitted.
  virtual std::vector<QueryAnswer> TakeAnswers() = 0;
};

// The encoded answer (a reply or an Error) to `job`, from `queries`.
Payload AnswerQuery(const AuditQueries& queries, const QueryJob& job);

// Answers each job at once, on the thread that submits it.
class InlineQueryPort final : public QueryPort {
 public:
  // `queries` must outlive the port.
  explicit InlineQueryPort(const AuditQueries& queries) : queries_(queries) {}
  Status Submit(QueryJob job) override;
  std::vector<QueryAnswer> TakeAnswers() override;

 private:
  const AuditQueries& queries_;
  std::vector<QueryAnswer> answers_;
};

}  // namespace flatcast::broker
