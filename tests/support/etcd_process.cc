#include "etcd_process.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include "http_client.h"

namespace flatcast::testing {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::unique_ptr<EtcdProcess> EtcdProcess::Start(const std::filesystem::path& dir,
                                                 std::string* why) {
  if (::access("/usr/bin/etcd", X_OK) != 0) {
    *why = "etcd is not installed (scripts/setup.sh installs Debian's etcd-server)";
    return nullptr;
  }
  std::unique_ptr<EtcdProcess> etcd(new EtcdProcess());
  etcd->dir_ = dir;
  std::filesystem::create_directories(dir);
  etcd->endpoint_ = "http://127.0.0.1:" + std::to_string(FreePort());
  etcd->peer_ = "http://127.0.0.1:" + std::to_string(FreePort());
  if (!etcd->Launch()) {
    *why = "etcd did not answer within 20 s; its log: " + etcd->process_->Stderr();
    return nullptr;
  }
  return etcd;
}

bool EtcdProcess::Launch() {
  ++launches_;
  process_ = std::make_unique<Process>(
      std::vector<std::string>{"/usr/bin/etcd", "--name", "t", "--data-dir", (dir_ / "data").string(),
                               "--listen-client-urls", endpoint_, "--advertise-client-urls",
                               endpoint_, "--listen-peer-urls", peer_,
                               "--initial-advertise-peer-urls", peer_, "--initial-cluster",
                               "t=" + peer_, "--log-level", "warn"},
      dir_ / ("etcd-" + std::to_string(launches_)), std::vector<std::string>{});
  return WaitFor(
      [&] {
        HttpResponse r = HttpGet(endpoint_, "/health");
        return r.status == 200 && r.body.find("true") != std::string::npos;
      },
      std::chrono::seconds(20));
}

bool EtcdProcess::Restart() {
  Kill();
  return Launch();
}

void EtcdProcess::Kill() {
  if (process_ && process_->running()) {
    process_->Signal(SIGKILL);
    process_->Wait(std::chrono::seconds(10));
  }
}

EtcdProcess::~EtcdProcess() { Kill(); }

}  // namespace flatcast::testing
