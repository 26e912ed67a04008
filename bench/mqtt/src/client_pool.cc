#include "flatcast/bench/mqtt/client_pool.h"

#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace flatcast::bench::mqtt {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kKeepaliveTick{1000};
constexpr int kMaxEventsPerWait = 1024;

}  // namespace

Result<std::unique_ptr<ClientPool>> ClientPool::Create(const PoolOptions& options,
                                                       PoolEvents* events) {
  if (options.connect_window == 0) return Status::Error("connect window must be at least 1");
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return Status::Error(std::string("epoll_create1: ") + std::strerror(errno));
  return std::unique_ptr<ClientPool>(new ClientPool(options, events, epoll_fd));
}

ClientPool::ClientPool(const PoolOptions& options, PoolEvents* events, int epoll_fd)
    : options_(options),
      events_(events),
      epoll_fd_(epoll_fd),
      next_keepalive_tick_(Clock::now() + kKeepaliveTick) {}

ClientPool::~ClientPool() {
  for (auto& client : clients_) mosquitto_destroy(client->handle);
  close(epoll_fd_);
}

Result<size_t> ClientPool::Add(const std::string& client_id) {
  auto client = std::make_unique<Client>();
  client->pool = this;
  client->index = clients_.size();
  client->handle = mosquitto_new(client_id.c_str(), options_.clean_session, client.get());
  if (client->handle == nullptr) {
    return Status::Error("mosquitto_new(" + client_id + "): " + std::strerror(errno));
  }
  mosquitto* handle = client->handle;
  mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1);
  mosquitto_int_option(handle, MOSQ_OPT_SEND_MAXIMUM, options_.max_inflight);
  mosquitto_connect_with_flags_callback_set(handle, &ClientPool::OnConnectTrampoline);
  mosquitto_disconnect_callback_set(handle, &ClientPool::OnDisconnectTrampoline);
  mosquitto_message_callback_set(handle, &ClientPool::OnMessageTrampoline);
  mosquitto_publish_callback_set(handle, &ClientPool::OnPublishTrampoline);
  mosquitto_subscribe_callback_set(handle, &ClientPool::OnSubscribeTrampoline);
  clients_.push_back(std::move(client));
  return clients_.size() - 1;
}

bool ClientPool::is_connected(size_t client) const {
  return client < clients_.size() && clients_[client]->state == State::kConnected;
}

void ClientPool::ConnectAll() {
  auto now = Clock::now();
  for (auto& client : clients_) {
    if (client->state == State::kIdle) {
      client->state = State::kWaiting;
      due_.push(Due{now, client->index});
    }
  }
}

void ClientPool::StartDueConnects(Clock::time_point now) {
  while (!due_.empty() && connecting_ < options_.connect_window && due_.top().at <= now) {
    Client& client = *clients_[due_.top().client];
    due_.pop();
    if (client.state == State::kWaiting) StartConnect(client);
  }
}

void ClientPool::StartConnect(Client& client) {
  // The non-blocking connect: the TCP handshake completes later and the
  // queued CONNECT goes out when the socket turns writable.
  const char* bind = options_.bind_address.empty() ? nullptr : options_.bind_address.c_str();
  int rc = client.ever_started
               ? mosquitto_reconnect_async(client.handle)
               : mosquitto_connect_bind_async(client.handle, options_.host.c_str(), options_.port,
                                              options_.keepalive_s, bind);
  client.ever_started = true;
  if (rc != MOSQ_ERR_SUCCESS) {
    ++connect_errors_;
    ScheduleReconnect(client);
    return;
  }
  client.state = State::kConnecting;
  ++connecting_;
  client.registered_fd = -1;  // a new socket: registered afresh
  FlushAndWatch(client);
}

void ClientPool::ScheduleReconnect(Client& client) {
  client.backoff = client.backoff.count() == 0
                       ? options_.reconnect_initial
                       : std::min(client.backoff * 2, options_.reconnect_max);
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  auto delay = milliseconds(static_cast<int64_t>(client.backoff.count() * jitter(jitter_)));
  client.state = State::kWaiting;
  due_.push(Due{Clock::now() + delay, client.index});
}

Status ClientPool::Poll(milliseconds max_wait) {
  auto now = Clock::now();
  if (!stopping_) StartDueConnects(now);
  if (now >= next_keepalive_tick_) {
    KeepaliveTick();
    next_keepalive_tick_ = now + kKeepaliveTick;
  }
  auto wait = std::min(max_wait, std::chrono::duration_cast<milliseconds>(
                                     next_keepalive_tick_ - now));
  if (!stopping_ && !due_.empty() && connecting_ < options_.connect_window) {
    auto until_due = std::chrono::ceil<milliseconds>(due_.top().at - now);
    wait = std::min(wait, std::max(until_due, milliseconds(0)));
  }
  std::array<epoll_event, kMaxEventsPerWait> ready{};
  int count = epoll_wait(epoll_fd_, ready.data(), kMaxEventsPerWait,
                         static_cast<int>(std::max<int64_t>(wait.count(), 0)));
  if (count < 0) {
    if (errno == EINTR) return Status::Ok();
    return Status::Error(std::string("epoll_wait: ") + std::strerror(errno));
  }
  for (int i = 0; i < count; ++i) {
    HandleReady(*static_cast<Client*>(ready[i].data.ptr), ready[i].events);
  }
  return Status::Ok();
}

void ClientPool::HandleReady(Client& client, uint32_t events) {
  if (client.registered_fd < 0 || mosquitto_socket(client.handle) != client.registered_fd) {
    return;  // the socket this event was for has been closed meanwhile
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ReadAvailable(client);
  if (client.registered_fd >= 0 && (events & EPOLLOUT)) mosquitto_loop_write(client.handle, 1);
  FlushAndWatch(client);
}

void ClientPool::ReadAvailable(Client& client) {
  // mosquitto_loop_read handles about one packet per call; keep reading while
  // the kernel holds more bytes for this socket, up to the per-event cap.
  for (size_t n = 0; n < options_.max_packets_per_read; ++n) {
    if (mosquitto_loop_read(client.handle, 1) != MOSQ_ERR_SUCCESS) return;  // disconnected
    int fd = mosquitto_socket(client.handle);
    if (fd < 0 || fd != client.registered_fd) return;
    int available = 0;
    if (ioctl(fd, FIONREAD, &available) != 0 || available <= 0) return;
  }
}

void ClientPool::FlushAndWatch(Client& client) {
  // Output queued inside callbacks (acks, SUBSCRIBE) is written at once when
  // the socket takes it; whatever remains waits for EPOLLOUT.
  if (mosquitto_socket(client.handle) >= 0 && mosquitto_want_write(client.handle)) {
    mosquitto_loop_write(client.handle, 1);
  }
  UpdateInterest(client);
}

void ClientPool::UpdateInterest(Client& client) {
  int fd = mosquitto_socket(client.handle);
  if (fd < 0) {
    client.registered_fd = -1;  // closing the socket removed it from epoll
    return;
  }
  uint32_t want = EPOLLIN;
  if (mosquitto_want_write(client.handle)) want |= EPOLLOUT;
  epoll_event event{};
  event.events = want;
  event.data.ptr = &client;
  if (client.registered_fd != fd) {
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0 && errno == EEXIST) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
    }
  } else if (want != client.registered_events) {
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event) != 0 && errno == ENOENT) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
    }
  } else {
    return;
  }
  client.registered_fd = fd;
  client.registered_events = want;
}

void ClientPool::KeepaliveTick() {
  for (auto& client : clients_) {
    if (client->state != State::kConnected && client->state != State::kConnecting) continue;
    if (mosquitto_socket(client->handle) < 0) continue;
    mosquitto_loop_misc(client->handle);  // PINGREQ when due; closes a dead link
    FlushAndWatch(*client);
  }
}

int ClientPool::Publish(size_t client, const std::string& topic, std::string_view payload,
                        int qos, int* mid) {
  Client& c = *clients_.at(client);
  int rc = mosquitto_publish(c.handle, mid, topic.c_str(), static_cast<int>(payload.size()),
                             payload.data(), qos, false);
  if (dispatch_depth_ == 0) FlushAndWatch(c);
  return rc;
}

int ClientPool::Subscribe(size_t client, const std::string& topic, int qos, int* mid) {
  Client& c = *clients_.at(client);
  int rc = mosquitto_subscribe(c.handle, mid, topic.c_str(), qos);
  if (dispatch_depth_ == 0) FlushAndWatch(c);
  return rc;
}

void ClientPool::DisconnectAll(milliseconds grace) {
  stopping_ = true;
  for (auto& client : clients_) {
    if (client->state == State::kConnected || client->state == State::kConnecting) {
      // Writes DISCONNECT now when the socket takes it, and then closes it.
      mosquitto_disconnect(client->handle);
      FlushAndWatch(*client);
    } else {
      client->state = State::kStopped;
    }
  }
  auto deadline = Clock::now() + grace;
  while (connected_ + connecting_ > 0 && Clock::now() < deadline) {
    if (!Poll(milliseconds(20)).ok()) break;
  }
}

void ClientPool::OnConnectTrampoline(mosquitto*, void* obj, int rc, int flags) {
  auto& client = *static_cast<Client*>(obj);
  ClientPool& pool = *client.pool;
  if (client.state == State::kConnecting) --pool.connecting_;
  if (rc != 0) {
    client.state = State::kRefused;
    return;
  }
  client.state = State::kConnected;
  client.backoff = milliseconds(0);
  ++pool.connected_;
  ++pool.connacks_;
  ++pool.dispatch_depth_;
  pool.events_->OnConnected(client.index, (flags & 1) != 0);
  --pool.dispatch_depth_;
}

void ClientPool::OnDisconnectTrampoline(mosquitto*, void* obj, int rc) {
  // libmosquitto has closed the socket before calling this.
  auto& client = *static_cast<Client*>(obj);
  ClientPool& pool = *client.pool;
  ++pool.disconnects_;
  if (client.state == State::kConnecting) --pool.connecting_;
  if (client.state == State::kConnected) --pool.connected_;
  client.registered_fd = -1;
  if (pool.stopping_) {
    client.state = State::kStopped;
  } else {
    pool.ScheduleReconnect(client);
  }
  ++pool.dispatch_depth_;
  pool.events_->OnDisconnected(client.index, rc);
  --pool.dispatch_depth_;
}

void ClientPool::OnMessageTrampoline(mosquitto*, void* obj, const mosquitto_message* message) {
  auto& client = *static_cast<Client*>(obj);
  ++client.pool->dispatch_depth_;
  client.pool->events_->OnMessage(client.index, *message);
  --client.pool->dispatch_depth_;
}

void ClientPool::OnPublishTrampoline(mosquitto*, void* obj, int mid) {
  auto& client = *static_cast<Client*>(obj);
  ++client.pool->dispatch_depth_;
  client.pool->events_->OnPublished(client.index, mid);
  --client.pool->dispatch_depth_;
}

void ClientPool::OnSubscribeTrampoline(mosquitto*, void* obj, int mid, int qos_count,
                                       const int* granted_qos) {
  auto& client = *static_cast<Client*>(obj);
  int granted = qos_count > 0 && granted_qos != nullptr ? granted_qos[0] : 128;
  ++client.pool->dispatch_depth_;
  client.pool->events_->OnSubscribed(client.index, mid, granted);
  --client.pool->dispatch_depth_;
}

}  // namespace flatcast::bench::mqtt
