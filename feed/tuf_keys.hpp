#pragma once
// TUF public keys (verification) and signing keys (the publisher). Schemes: ed25519 (hex public
// key), ecdsa-sha2-nistp256 (PEM SubjectPublicKeyInfo, DER signatures) and rsassa-pss-sha256 (PEM,
// at least 2048 bits). Everything goes through Botan 2.
#include "policies/error.hpp"

#include <boost/json/value.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace Botan { class Public_Key; class Private_Key; }

namespace mitigd::feed {

enum class KeyType { ed25519, ecdsa_p256, rsa_pss };

const char* keytype_name(KeyType t);  // as written in metadata ("ed25519", "ecdsa", "rsa")
const char* scheme_name(KeyType t);   // "ed25519", "ecdsa-sha2-nistp256", "rsassa-pss-sha256"
std::optional<KeyType> parse_key_type_option(std::string_view text);  // ed25519|ecdsa|rsa

class PublicKey {
 public:
  // Parses one entry of a "keys" map; `where` names it in errors ("root.json: signed.keys.ab12").
  static Result<PublicKey> from_json(const boost::json::value& v, const std::string& where);
  PublicKey(PublicKey&&) noexcept;
  PublicKey& operator=(PublicKey&&) noexcept;
  ~PublicKey();

  KeyType type() const { return type_; }
  // The public key material as written, identical for the same key under any keyid: thresholds
  // count distinct key material, so one key listed under two keyids still counts once.
  const std::string& material() const { return material_; }
  bool verify(std::string_view message, std::string_view signature_hex) const;
  boost::json::value to_json() const;
  std::string keyid() const;  // sha256 of the canonical JSON of to_json()

 private:
  PublicKey() = default;
  KeyType type_ = KeyType::ed25519;
  std::string keytype_text_, scheme_text_, written_, material_;
  std::unique_ptr<Botan::Public_Key> key_;
};

class SigningKey {
 public:
  static SigningKey generate(KeyType type, std::size_t rsa_bits = 3072);
  // PKCS#8 PEM (unencrypted), as written by to_pkcs8_pem().
  static Result<SigningKey> from_pkcs8_pem(std::string_view pem, const std::string& file);
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  KeyType type() const { return type_; }
  std::string to_pkcs8_pem() const;
  boost::json::value public_json() const;  // the TUF key object
  std::string keyid() const;
  std::string sign(std::string_view message) const;  // hex signature

 private:
  SigningKey() = default;
  KeyType type_ = KeyType::ed25519;
  std::unique_ptr<Botan::Private_Key> key_;
};

std::string sha256_hex(std::string_view bytes);
std::string sha512_hex(std::string_view bytes);

}  // namespace mitigd::feed
