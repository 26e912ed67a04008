// The pool that serves libzmq's CURVE handshake buffers (handshake_memory.h).
#include "flatcast/handshake_memory.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <vector>
#include <zmq_addon.hpp>

#include "flatcast/curve.h"

namespace flatcast {
namespace {

TEST(HandshakeMemory, IsWhatTheDynamicLinkerGivesLibzmq) {
  // libzmq looks the functions up by name in the global scope: it must get these.
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "sodium_allocarray"), reinterpret_cast<void*>(&sodium_allocarray));
  EXPECT_EQ(dlsym(RTLD_DEFAULT, "sodium_free"), reinterpret_cast<void*>(&sodium_free));
}

TEST(HandshakeMemory, ServesSmallRequestsFromThePoolAndZeroesThemWhenFreed) {
  auto* p = static_cast<unsigned char*>(sodium_allocarray(3, 100));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(IsHandshakeMemory(p));
  std::memset(p, 0xAB, 300);
  sodium_free(p);
  // The block is reused next (last freed, first given) and holds nothing of before.
  auto* again = static_cast<unsigned char*>(sodium_allocarray(1, kHandshakeBlockBytes));
  ASSERT_EQ(again, p);
  EXPECT_TRUE(std::all_of(again, again + kHandshakeBlockBytes, [](unsigned char c) { return c == 0; }));
  sodium_free(again);
}

TEST(HandshakeMemory, PassesLargeRequestsAndAFullPoolToLibsodium) {
  const HandshakeMemoryStats before = GetHandshakeMemoryStats();
  void* large = sodium_allocarray(1, kHandshakeBlockBytes + 1);
  ASSERT_NE(large, nullptr);
  EXPECT_FALSE(IsHandshakeMemory(large));
  std::memset(large, 1, kHandshakeBlockBytes + 1);
  sodium_free(large);

  std::vector<void*> blocks;
  for (size_t i = 0; i < kHandshakeBlocks - before.in_use; ++i) {
    blocks.push_back(sodium_allocarray(1, 64));
    ASSERT_TRUE(IsHandshakeMemory(blocks.back()));
  }
  void* beyond = sodium_allocarray(1, 64);
  ASSERT_NE(beyond, nullptr);
  EXPECT_FALSE(IsHandshakeMemory(beyond));
  sodium_free(beyond);
  for (void* b : blocks) sodium_free(b);
  EXPECT_EQ(GetHandshakeMemoryStats().in_use, before.in_use);
  EXPECT_EQ(GetHandshakeMemoryStats().fallback, before.fallback + 2);
}

TEST(HandshakeMemory, RefusesACountTimesSizeThatOverflows) {
  EXPECT_EQ(sodium_allocarray(SIZE_MAX / 2, 4), nullptr);
  sodium_free(nullptr);  // like free(NULL)
}

TEST(HandshakeMemory, ServesARealCurveHandshake) {
  ASSERT_GE(sodium_init(), 0);
  unsigned char server_pk[32], server_sk[32], client_pk[32], client_sk[32];
  crypto_box_keypair(server_pk, server_sk);
  crypto_box_keypair(client_pk, client_sk);
  const HandshakeMemoryStats before = GetHandshakeMemoryStats();

  zmq::context_t context;
  zmq::socket_t server(context, zmq::socket_type::router);
  zmq::socket_t client(context, zmq::socket_type::dealer);
  server.set(zmq::sockopt::curve_server, 1);
  server.set(zmq::sockopt::curve_secretkey, zmq::buffer(server_sk, 32));
  server.set(zmq::sockopt::linger, 0);
  server.bind("tcp://127.0.0.1:*");
  CurveClientKeys keys{std::string(reinterpret_cast<char*>(client_pk), 32),
                       std::string(reinterpret_cast<char*>(client_sk), 32),
                       std::string(reinterpret_cast<char*>(server_pk), 32)};
  ASSERT_TRUE(ApplyCurveClient(client, keys).ok());
  client.set(zmq::sockopt::linger, 0);
  client.connect(server.get(zmq::sockopt::last_endpoint));
  client.send(zmq::str_buffer("over CURVE"));

  server.set(zmq::sockopt::rcvtimeo, 10000);
  std::vector<zmq::message_t> frames;
  ASSERT_TRUE(zmq::recv_multipart(server, std::back_inserter(frames)));
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1].to_string(), "over CURVE");

  const HandshakeMemoryStats after = GetHandshakeMemoryStats();
  EXPECT_GT(after.pooled, before.pooled) << "libzmq's handshake did not use the pool";
  EXPECT_EQ(after.in_use, before.in_use) << "a handshake buffer was not given back";
}

}  // namespace
}  // namespace flatcast
