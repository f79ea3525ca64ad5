// TLS transport: Beast's ssl_stream over a TCP socket (see tls.h).
#include "tls.h"

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <filesystem>

namespace dari::server {

namespace ssl = net::ssl;

struct TlsContext {
  ssl::context ctx{ssl::context::tls_server};
};

namespace {

class TlsTransport final : public Transport {
 public:
  TlsTransport(ssl::context& ctx, tcp::socket socket, Executor ex)
      : ex_(std::move(ex)), stream_(std::move(socket), ctx) {}

  void handshake(Handler h) override {
    stream_.async_handshake(ssl::stream_base::server, net::bind_executor(ex_, std::move(h)));
  }
  void read_some(net::mutable_buffer b, IoHandler h) override {
    stream_.async_read_some(b, net::bind_executor(ex_, std::move(h)));
  }
  void write(net::const_buffer b, IoHandler h) override {
    net::async_write(stream_, b, net::bind_executor(ex_, std::move(h)));
  }
  void shutdown_send() override {
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
  void close() override {
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }
  std::string remote() const override {
    boost::system::error_code ec;
    auto ep = boost::beast::get_lowest_layer(stream_).remote_endpoint(ec);
    return ec ? std::string() : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

 private:
  tcp::socket& socket() { return boost::beast::get_lowest_layer(stream_); }

  Executor ex_;
  boost::beast::ssl_stream<tcp::socket> stream_;
};

}  // namespace

Result<std::shared_ptr<TlsContext>> make_tls_context(const std::string& cert_file,
                                                     const std::string& key_file) {
  auto t = std::make_shared<TlsContext>();
  boost::system::error_code ec;
  t->ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                     ec);
  if (ec) return make_error("serve: TLS options: " + ec.message());
  if (!std::filesystem::is_regular_file(cert_file)) {
    return make_error("serve: --ssl-cert-file '" + cert_file + "': no such file");
  }
  if (!std::filesystem::is_regular_file(key_file)) {
    return make_error("serve: --ssl-key-file '" + key_file + "': no such file");
  }
  if (t->ctx.use_certificate_chain_file(cert_file, ec); ec) {
    return make_error("serve: --ssl-cert-file '" + cert_file +
                      "': not a PEM certificate chain: " + ec.message());
  }
  if (t->ctx.use_private_key_file(key_file, ssl::context::pem, ec); ec) {
    return make_error("serve: --ssl-key-file '" + key_file +
                      "': not a PEM private key matching the certificate: " + ec.message());
  }
  return t;
}

std::unique_ptr<Transport> make_tls_transport(TlsContext& ctx, tcp::socket socket, Executor ex) {
  return std::make_unique<TlsTransport>(ctx.ctx, std::move(socket), std::move(ex));
}

}  // namespace dari::server
