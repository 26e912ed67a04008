#include "flatcast/zmq_tuning.h"

namespace flatcast {

void TuneClientSocket(zmq::socket_t& socket) {
  // Closing must not hang on a broker that went away, but a last request or
  // acknowledgement should get a second to leave.
  socket.set(zmq::sockopt::linger, 1000);
  // ZeroMQ doubles the interval after each failed attempt up to the maximum,
  // so a restarted broker is found quickly and a dead one is not hammered.
  socket.set(zmq::sockopt::reconnect_ivl, 100);
  socket.set(zmq::sockopt::reconnect_ivl_max, 5000);
  // TCP alone may not notice a peer behind a dropped NAT mapping for hours;
  // ZMTP pings from this side close such a connection after 15 s. No TTL is
  // asked of the broker: libzmq 4.3.4 cancels timers by walking one list of all
  // of them, and a timer per terminal stalls a broker with ~20,000 terminals.
  socket.set(zmq::sockopt::heartbeat_ivl, 5000);
  socket.set(zmq::sockopt::heartbeat_timeout, 15000);
  socket.set(zmq::sockopt::handshake_ivl, 60000);
  // Queue messages only on completed connections, so a request is not parked
  // in a pipe to a broker that is not there.
  socket.set(zmq::sockopt::immediate, true);
}

}  // namespace flatcast
