// TLS for the listener (OpenSSL through Beast's ssl_stream); the only translation unit that
// compiles Asio's SSL layer.
//
// TlsContext holds the certificate chain and private key; it is created once by Server::create
// and shared (read-only) by every TLS connection. Thread safety: make_tls_transport may be called
// from any I/O thread.
#pragma once

#include <memory>
#include <string>

#include "dari/core/result.h"
#include "transport.h"

namespace dari::server {

struct TlsContext;

// Loads a PEM certificate chain and a PEM private key; errors name the file that failed.
Result<std::shared_ptr<TlsContext>> make_tls_context(const std::string& cert_file,
                                                     const std::string& key_file);

std::unique_ptr<Transport> make_tls_transport(TlsContext& ctx, tcp::socket socket, Executor ex);

}  // namespace dari::server
