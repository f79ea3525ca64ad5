// Transport: the byte stream under a Connection, plain TCP or TLS (tls.cpp), behind one small
// interface so that only tls.cpp compiles Asio's SSL layer.
//
// Thread: every method is called on the connection's strand, and every completion handler runs
// there (the implementations bind handlers to it). At most one read_some and one write may be
// outstanding at a time. Ownership: the Connection owns its Transport.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "server_impl.h"

namespace dari::server {

class Transport {
 public:
  using IoHandler = std::function<void(boost::system::error_code, size_t)>;
  using Handler = std::function<void(boost::system::error_code)>;
  virtual ~Transport() = default;
  // TLS: the server side of the handshake; plain: completes at once (posted).
  virtual void handshake(Handler h) = 0;
  virtual void read_some(net::mutable_buffer b, IoHandler h) = 0;
  // Writes all of `b` (the bytes must stay valid until the handler runs).
  virtual void write(net::const_buffer b, IoHandler h) = 0;
  // Half-closes the sending side (best effort; TLS sends nothing more).
  virtual void shutdown_send() = 0;
  // Pending operations complete with an error; no more I/O after this.
  virtual void close() = 0;
  // "ip:port" of the peer, "" when unknown.
  virtual std::string remote() const = 0;
};

std::unique_ptr<Transport> make_plain_transport(tcp::socket socket, Executor ex);

}  // namespace dari::server
