// Publishing: a new directive and every lifecycle change of one (amend,
// cancel, extend the hold, release early), each checked (the publisher's
// registration and jurisdiction, the signature, the content), turned into
// the next stored version with its public record and events, committed, and
// only once durable answered and fanned out. Requests are decided one at a
// time through the change queue. Owned by the broker's event loop.
#pragma once

#include <chrono>
#include <string>

#include "change_queue.h"
#include "connections.h"
#include "delivery.h"
#include "directive_index.h"
#include "flatcast.pb.h"
#include "flatcast/broker/commit_path.h"
#include "flatcast/broker/metrics.h"
#include "flatcast/broker/publishers.h"
#include "flatcast/clock.h"
#include "flatcast/key_registry.h"
#include "flatcast/registry.h"
#include "attachments.h"
#include "public_release.h"

namespace flatcast::broker {

struct PublishingDeps {
  const Registry& registry;
  const Clock& clock;
  const PublisherDirectory& publishers;
  // With a key registry every directive must be signed; nullptr: open mode.
  const KeyRegistry* keys;
  std::chrono::milliseconds public_lead_time;
  DirectiveIndex& index;
  PublicRelease& public_side;
  Delivery& delivery;
  Connections& connections;
  CommitPath& commits;
  ChangeQueue& changes;
  BrokerMetrics& metrics;
  // Where attached documents are stored: a directive's must be there
  // before it is accepted. nullptr: none accepted.
  const Attachments* attachments = nullptr;
};

class Publishing {
 public:
  explicit Publishing(const PublishingDeps& deps) : d_(deps) {}

  // Each answers `routing` (a receipt, a lifecycle reply or an error) once
  // decided and, when accepted, once durable.
  void OnPublish(const std::string& routing, uint64_t correlation_id, v1::PublishRequest req);
  void OnLifecycle(const std::string& routing, uint64_t correlation_id, v1::LifecycleRequest req);

 private:
  template <typename Request>
  using Decide = void (Publishing::*)(const std::string&, uint64_t, const Request&,
                                      ChangeQueue::Finished);
  // Decides the request once the changes before it are done.
  template <typename Request>
  void Enqueue(const std::string& routing, uint64_t corr, Request req, Decide<Request> decide);
  void Publish(const std::string& routing, uint64_t corr, const v1::PublishRequest& req,
               ChangeQueue::Finished finished);
  void Change(const std::string& routing, uint64_t corr, const v1::LifecycleRequest& req,
              ChangeQueue::Finished finished);
  // The stored record of `d` as the next sequence number.
  v1::StoredDirective NextVersion(v1::Directive d, const std::string& idempotency_key,
                                  const std::string& publisher) const;
  // The registered publisher of that name; nullptr without a publishers
  // file (any name, no rights); NotRegistered for an unknown name.
  Result<const Publisher*> FindPublisher(const std::string& name) const;
  // With a key registry: `d` must carry a signature that verifies with an
  // active signing key of `publisher`, and no stored version may carry it
  // already (a replay). Ok in open mode.
  Status CheckSignature(const v1::Directive& d, const std::string& publisher) const;
  // Every attachment of `d` is stored complete (Attachments::CheckStored).
  Status CheckAttachmentsStored(const v1::Directive& d) const;
  void Answer(const std::string& routing, const Payload& reply);
  // An error answer, counted (flatcast_requests_refused_total).
  void Refuse(const std::string& routing, uint64_t corr, v1::ErrorCode code,
              std::string_view message);

  PublishingDeps d_;
};

}  // namespace flatcast::broker
