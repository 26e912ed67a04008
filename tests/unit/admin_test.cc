// The operator surface without a listener (admin.h, admin_http.h): what
// /metrics, /healthz and /readyz answer, and the listener's refusals of
// what is not a GET or HEAD or does not parse.
#include <gtest/gtest.h>

#include "flatcast/admin_http.h"
#include "flatcast/broker/admin.h"
#include "flatcast/registry.h"

namespace flatcast::broker {
namespace {

TEST(AdminSurface, HealthAndReadinessSayWhyNotUntilTheLoopReportsOk) {
  AdminSurface admin;
  EXPECT_EQ(admin.Answer("/healthz").status, 503u);
  EXPECT_EQ(admin.Answer("/healthz").body, "starting\n");
  admin.Report(Status::Ok(), Status::Unavailable("a standby; the leader is a at tcp://h:1"));
  EXPECT_EQ(admin.Answer("/healthz").status, 200u);
  EXPECT_EQ(admin.Answer("/healthz").body, "ok\n");
  AdminResponse ready = admin.Answer("/readyz?verbose");
  EXPECT_EQ(ready.status, 503u);
  EXPECT_EQ(ready.body, "a standby; the leader is a at tcp://h:1\n");
  admin.Report(Status::Ok(), Status::Ok());
  EXPECT_EQ(admin.Answer("/readyz").body, "ready\n");
  EXPECT_EQ(admin.Answer("/public/directives").status, 404u);
}

TEST(AdminSurface, MetricsAreCountedWithLowCardinalityLabels) {
  AdminSurface admin;
  admin.metrics().Acknowledged(v1::CONFIRMED, 3600);
  admin.metrics().RequestRefused(v1::FORBIDDEN);
  admin.metrics().RequestRefused(v1::FORBIDDEN);
  admin.metrics().HandshakeRefused("unknown_key");
  admin.metrics().Lifecycle(v1::LifecycleRequest::CANCEL);
  BrokerMetrics::State state;
  state.connected_by_tier[static_cast<int>(flatcast::Tier::kCommunity)] = 7;
  state.pair = true;
  state.leader = true;
  state.epoch = 41;
  admin.metrics().SetState(state);
  AdminResponse m = admin.Answer("/metrics");
  EXPECT_EQ(m.status, 200u);
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  for (const char* line :
       {"flatcast_acknowledgements_total{level=\"confirmed\"} 1",
        "flatcast_ack_latency_seconds_bucket{level=\"confirmed\",le=\"3600\"} 1",
        "flatcast_requests_refused_total{code=\"forbidden\"} 2",
        "flatcast_handshakes_refused_total{reason=\"unknown_key\"} 1",
        "flatcast_lifecycle_changes_total{action=\"cancel\"} 1",
        "flatcast_terminals_connected{tier=\"community\"} 7", "flatcast_pair_leader 1",
        "flatcast_pair_epoch 41"}) {
    EXPECT_NE(m.body.find(line), std::string::npos) << line << "\n" << m.body;
  }
  EXPECT_EQ(m.body.find("flatcast_relay_upstream_welcomed "), std::string::npos)
      << "no relay gauges on a broker that is no relay";
}

TEST(AdminHttp, OnlyGetAndHeadAndOnlyWhatParses) {
  AdminHandler handler = [](std::string_view target) {
    return AdminResponse{200, "text/plain", std::string(target)};
  };
  std::string get = AnswerAdminRequest("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", handler);
  EXPECT_EQ(get.rfind("HTTP/1.1 200 OK", 0), 0u) << get;
  EXPECT_NE(get.find("/metrics?x=1"), std::string::npos);
  EXPECT_NE(get.find("Cache-Control: no-store"), std::string::npos) << get;
  std::string head = AnswerAdminRequest("HEAD /metrics HTTP/1.1\r\n\r\n", handler);
  EXPECT_EQ(head.find("/metrics", head.find("\r\n\r\n")), std::string::npos) << "no body";
  std::string post =
      AnswerAdminRequest("POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nab", handler);
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos);
  EXPECT_EQ(AnswerAdminRequest("hello\r\n\r\n", handler).rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(AnswerAdminRequest("GET / HTTP/1.1\r\nX: " + std::string(10000, 'a') + "\r\n\r\n",
                               handler)
                .rfind("HTTP/1.1 400", 0),
            0u)
      << "oversized headers";
}

TEST(AdminHttp, AListenerRefusesAnEndpointThatIsNotHostAndPort) {
  AdminHandler handler = [](std::string_view) { return AdminResponse{}; };
  EXPECT_FALSE(AdminServer::Start("7790", handler).ok());
  EXPECT_FALSE(AdminServer::Start("127.0.0.1:99999", handler).ok());
  EXPECT_FALSE(AdminServer::Start("no-such-host:1", handler).ok());
  auto server = AdminServer::Start("127.0.0.1:0", handler);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ((*server)->url().rfind("http://127.0.0.1:", 0), 0u);
}

}  // namespace
}  // namespace flatcast::broker
