#include "flatcast/subscriber/terminal_admin.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>

namespace flatcast::subscriber {

namespace {
constexpr auto kStuckAfter = std::chrono::seconds(10);
}  // namespace

struct TerminalAdmin::Impl {
  Impl()
      : inbox(prometheus::BuildGauge()
                  .Name("flatcast_terminal_inbox_directives")
                  .Help("Directive versions in the terminal's inbox")
                  .Register(*registry)
                  .Add({})),
        pending(prometheus::BuildGauge()
                    .Name("flatcast_terminal_pending_acknowledgements")
                    .Help("Acknowledgements and ratings stored here, not yet confirmed by the "
                          "broker")
                    .Register(*registry)
                    .Add({})),
        welcomed(prometheus::BuildGauge()
                     .Name("flatcast_terminal_welcomed")
                     .Help("1 while the broker has welcomed this terminal")
                     .Register(*registry)
                     .Add({})),
        last_contact(prometheus::BuildGauge()
                         .Name("flatcast_terminal_last_contact_timestamp_seconds")
                         .Help("When a message from the broker last came (Unix time; 0: never)")
                         .Register(*registry)
                         .Add({})),
        deliveries(prometheus::BuildCounter()
                       .Name("flatcast_terminal_deliveries_total")
                       .Help("Directive versions received and stored (first time)")
                       .Register(*registry)
                       .Add({})),
        confirmed(prometheus::BuildCounter()
                      .Name("flatcast_terminal_acknowledgements_confirmed_total")
                      .Help("Acknowledgements the broker confirmed durable")
                      .Register(*registry)
                      .Add({})),
        bad_signatures(prometheus::BuildCounter()
                           .Name("flatcast_terminal_bad_signatures_total")
                           .Help("Deliveries refused: signature missing or not verifying")
                           .Register(*registry)
                           .Add({})),
        store_failures(prometheus::BuildCounter()
                           .Name("flatcast_terminal_store_failures_total")
                           .Help("Deliveries that could not be stored (not acknowledged)")
                           .Register(*registry)
                           .Add({})),
        documents_kept(prometheus::BuildCounter()
                           .Name("flatcast_terminal_documents_kept_total")
                           .Help("Attached documents fetched whole and checked against their SHA-256")
                           .Register(*registry)
                           .Add({})),
        documents_refused(prometheus::BuildCounter()
                              .Name("flatcast_terminal_documents_refused_total")
                              .Help("Attached documents refused: their content did not match the signed SHA-256")
                              .Register(*registry)
                              .Add({})) {}

  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Gauge& inbox;
  prometheus::Gauge& pending;
  prometheus::Gauge& welcomed;
  prometheus::Gauge& last_contact;
  prometheus::Counter& deliveries;
  prometheus::Counter& confirmed;
  prometheus::Counter& bad_signatures;
  prometheus::Counter& store_failures;
  prometheus::Counter& documents_kept;
  prometheus::Counter& documents_refused;
  mutable std::mutex mutex;
  SessionCounters seen;  // the counters as last added
  bool reported = false;
  bool is_welcomed = false;
  std::string storage_error;
  std::chrono::steady_clock::time_point updated{};
  std::unique_ptr<AdminServer> server;  // last: stopped first
};

TerminalAdmin::TerminalAdmin() : impl_(std::make_unique<Impl>()) {}
TerminalAdmin::~TerminalAdmin() = default;

Result<std::unique_ptr<TerminalAdmin>> TerminalAdmin::Start(const std::string& endpoint) {
  auto admin = std::make_unique<TerminalAdmin>();
  TerminalAdmin* self = admin.get();
  auto server =
      AdminServer::Start(endpoint, [self](std::string_view target) { return self->Answer(target); });
  if (!server.ok()) return server.status();
  admin->impl_->server = std::move(server).value();
  return admin;
}

std::string TerminalAdmin::url() const { return impl_->server ? impl_->server->url() : ""; }

void TerminalAdmin::Update(const Snapshot& s) {
  Impl& i = *impl_;
  i.inbox.Set(static_cast<double>(s.inbox));
  i.pending.Set(static_cast<double>(s.pending_acks));
  i.welcomed.Set(s.welcomed ? 1 : 0);
  if (s.last_contact) {
    i.last_contact.Set(
        std::chrono::duration<double>(s.last_contact->time_since_epoch()).count());
  }
  auto add = [](prometheus::Counter& c, uint64_t now, uint64_t before) {
    if (now > before) c.Increment(static_cast<double>(now - before));
  };
  std::lock_guard<std::mutex> lock(i.mutex);
  add(i.deliveries, s.counters.received, i.seen.received);
  add(i.confirmed, s.counters.acks_confirmed, i.seen.acks_confirmed);
  add(i.bad_signatures, s.counters.bad_signatures, i.seen.bad_signatures);
  add(i.store_failures, s.counters.store_failures, i.seen.store_failures);
  add(i.documents_kept, s.counters.documents_kept, i.seen.documents_kept);
  add(i.documents_refused, s.counters.documents_refused, i.seen.documents_refused);
  i.seen = s.counters;
  i.reported = true;
  i.is_welcomed = s.welcomed;
  i.storage_error = s.storage_error;
  i.updated = std::chrono::steady_clock::now();
}

AdminResponse TerminalAdmin::Answer(std::string_view target) const {
  const Impl& i = *impl_;
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/metrics") {
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            prometheus::TextSerializer().Serialize(i.registry->Collect())};
  }
  if (path == "/healthz" || path == "/readyz") {
    std::lock_guard<std::mutex> lock(i.mutex);
    std::string why;
    if (!i.reported) {
      why = "starting";
    } else if (std::chrono::steady_clock::now() - i.updated >= kStuckAfter) {
      why = "the daemon's loop has not reported for 10 s";
    } else if (!i.storage_error.empty()) {
      why = "the state directory does not take writes: " + i.storage_error;
    } else if (path == "/readyz" && !i.is_welcomed) {
      why = "not welcomed by the broker (connecting, or the broker is unreachable)";
    }
    if (why.empty()) return {200, "text/plain; charset=utf-8", path == "/healthz" ? "ok\n" : "ready\n"};
    return {503, "text/plain; charset=utf-8", why + "\n"};
  }
  return {404, "text/plain; charset=utf-8",
          "not found: the admin listener serves /metrics, /healthz and /readyz\n"};
}

}  // namespace flatcast::subscriber
