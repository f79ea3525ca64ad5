// SHA-256, base64 and Ed25519 through OpenSSL 3 (EVP interfaces only).
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "dari/trust/trust.h"

namespace dari::trust {
namespace {

std::string to_hex(const unsigned char* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "unknown OpenSSL error";
  std::array<char, 256> buf{};
  ERR_error_string_n(code, buf.data(), buf.size());
  return buf.data();
}

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

Result<std::string> raw_public_b64(EVP_PKEY* pkey) {
  std::array<unsigned char, 32> raw{};
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(pkey, raw.data(), &len) != 1 || len != 32) {
    return make_error("Ed25519: cannot read the public key: " + openssl_error());
  }
  return base64_encode(std::string_view(reinterpret_cast<const char*>(raw.data()), len));
}

std::string key_id_of(const std::string& public_b64) {
  auto raw = base64_decode(public_b64);
  return sha256_hex(raw.ok() ? *raw : public_b64).substr(0, 16);
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  DARI_CHECK(EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) == 1);
  return to_hex(md.data(), len);
}

Result<std::string> sha256_file_hex(const std::string& path) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!f) return make_error(path + ": cannot open for hashing: " + std::strerror(errno));
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return make_error("sha256: " + openssl_error());
  }
  std::vector<unsigned char> buf(1 << 20);
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) {
    DARI_CHECK(EVP_DigestUpdate(ctx.get(), buf.data(), n) == 1);
  }
  if (std::ferror(f.get())) return make_error(path + ": read error while hashing");
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  DARI_CHECK(EVP_DigestFinal_ex(ctx.get(), md.data(), &len) == 1);
  return to_hex(md.data(), len);
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > (1u << 30)) {
    return make_error("base64: length " + std::to_string(text.size()) + " is not a multiple of 4");
  }
  std::string out(text.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return make_error("base64: invalid characters");
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock keeps the zero bytes that padding stands for; drop them.
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  // Reject non-canonical spellings (unused low bits set): one signature, one encoding.
  if (base64_encode(out) != text) return make_error("base64: not in canonical form");
  return out;
}

Result<SigningKey> SigningKey::generate() {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (raw == nullptr) return make_error("Ed25519 key generation failed: " + openssl_error());
  SigningKey key;
  key.pkey_ = std::shared_ptr<void>(raw, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  DARI_ASSIGN_OR_RETURN(key.public_b64_, raw_public_b64(raw));
  key.key_id_ = key_id_of(key.public_b64_);
  return key;
}

Result<SigningKey> SigningKey::load(const std::string& pem_path) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(pem_path.c_str(), "rb"),
                                                       &std::fclose);
  if (!f) return make_error(pem_path + ": cannot open signing key: " + std::strerror(errno));
  EVP_PKEY* raw = PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr);
  if (raw == nullptr) return make_error(pem_path + ": not a PEM private key: " + openssl_error());
  SigningKey key;
  key.pkey_ = std::shared_ptr<void>(raw, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
  if (EVP_PKEY_get_base_id(raw) != EVP_PKEY_ED25519) {
    return make_error(pem_path + ": the signing key must be Ed25519");
  }
  DARI_ASSIGN_OR_RETURN(key.public_b64_, raw_public_b64(raw));
  key.key_id_ = key_id_of(key.public_b64_);
  return key;
}

Status SigningKey::save(const std::string& pem_path) const {
  int fd = ::open(pem_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(pem_path + ": cannot create signing key file: " + std::strerror(errno));
  }
  ::fchmod(fd, 0600);  // umask cannot widen it, but be explicit
  std::FILE* f = ::fdopen(fd, "wb");
  if (f == nullptr) {
    ::close(fd);
    return make_error(pem_path + ": fdopen failed");
  }
  auto* pkey = static_cast<EVP_PKEY*>(pkey_.get());
  bool ok = PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = (std::fflush(f) == 0) && ok && (::fsync(fd) == 0);
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return make_error(pem_path + ": writing the signing key failed");
  std::string pub_path = pem_path + ".pub";
  std::unique_ptr<std::FILE, decltype(&std::fclose)> pf(std::fopen(pub_path.c_str(), "wb"),
                                                        &std::fclose);
  if (!pf || PEM_write_PUBKEY(pf.get(), pkey) != 1) {
    return make_error(pub_path + ": writing the public key failed");
  }
  return Status::Ok();
}

std::string SigningKey::sign_base64(std::string_view message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  auto* pkey = static_cast<EVP_PKEY*>(pkey_.get());
  DARI_CHECK(ctx && pkey != nullptr);
  DARI_CHECK(EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey) == 1);
  std::array<unsigned char, 64> sig{};
  size_t len = sig.size();
  DARI_CHECK(EVP_DigestSign(ctx.get(), sig.data(), &len,
                            reinterpret_cast<const unsigned char*>(message.data()),
                            message.size()) == 1);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(sig.data()), len));
}

Result<std::string> load_public_key_base64(const std::string& path_or_base64) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(path_or_base64.c_str(), "rb"),
                                                       &std::fclose);
  if (!f) {
    auto raw = base64_decode(path_or_base64);
    if (raw.ok() && raw->size() == 32) return path_or_base64;
    return make_error(path_or_base64 + ": neither a readable key file nor a base64 public key");
  }
  std::string text;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) text.append(buf.data(), n);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
  EVP_PKEY* raw = text.find("PRIVATE KEY") != std::string::npos
                      ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                      : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (raw == nullptr) {
    // A file holding the base64 key itself.
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    auto dec = base64_decode(text);
    if (dec.ok() && dec->size() == 32) return text;
    return make_error(path_or_base64 + ": not a PEM key or base64 Ed25519 public key");
  }
  PkeyPtr key(raw, &EVP_PKEY_free);
  if (EVP_PKEY_get_base_id(raw) != EVP_PKEY_ED25519) {
    return make_error(path_or_base64 + ": not an Ed25519 key");
  }
  return raw_public_b64(raw);
}

Status verify_signature(std::string_view public_key_b64, std::string_view message,
                        std::string_view signature_b64) {
  DARI_ASSIGN_OR_RETURN(std::string pub, base64_decode(public_key_b64));
  if (pub.size() != 32) return make_error("public key: expected 32 bytes");
  DARI_ASSIGN_OR_RETURN(std::string sig, base64_decode(signature_b64));
  if (sig.size() != 64) return make_error("signature: expected 64 bytes");
  PkeyPtr pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                  reinterpret_cast<const unsigned char*>(pub.data()), pub.size()),
      &EVP_PKEY_free);
  if (!pkey) return make_error("public key: " + openssl_error());
  MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1) {
    return make_error("verify: " + openssl_error());
  }
  int rc =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ERR_clear_error();
  if (rc != 1) return make_error("signature does not match");
  return Status::Ok();
}

}  // namespace dari::trust
