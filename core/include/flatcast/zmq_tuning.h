// Socket options shared by every flatcast peer, set in one place.
#pragma once

#include <zmq.hpp>

namespace flatcast {

// Terminals and clients: reconnect with backoff, ZMTP heartbeats so dead
// connections are noticed, no lingering on close. Throws zmq::error_t only for
// a closed socket.
void TuneClientSocket(zmq::socket_t& socket);

}  // namespace flatcast
