#include "feed/tuf_keys.hpp"

#include "feed/canonical_json.hpp"

#include <botan/auto_rng.h>
#include <botan/data_src.h>
#include <botan/ecdsa.h>
#include <botan/ed25519.h>
#include <botan/hash.h>
#include <botan/hex.h>
#include <botan/pk_keys.h>
#include <botan/pkcs8.h>
#include <botan/pubkey.h>
#include <botan/rsa.h>
#include <botan/x509_key.h>

#include <optional>

namespace mitigd::feed {
namespace {

constexpr std::size_t kMinRsaBits = 2048;
constexpr std::size_t kMaxKeyText = 8192;

const char* emsa(KeyType t) {
  switch (t) {
    case KeyType::ed25519: return "Pure";
    case KeyType::ecdsa_p256: return "EMSA1(SHA-256)";
    case KeyType::rsa_pss: return "EMSA4(SHA-256)";
  }
  return "Pure";
}

Botan::Signature_Format sig_format(KeyType t) {
  return t == KeyType::ecdsa_p256 ? Botan::DER_SEQUENCE : Botan::IEEE_1363;
}

bool is_hex(std::string_view s) {
  return !s.empty() && s.size() % 2 == 0 &&
         s.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
}

std::string public_material(KeyType type, const Botan::Public_Key& key) {
  if (type == KeyType::ed25519) {
    return Botan::hex_encode(dynamic_cast<const Botan::Ed25519_PublicKey&>(key).get_public_key(), false);
  }
  return Botan::X509::PEM_encode(key);
}

boost::json::value key_json(KeyType type, const std::string& material) {
  return boost::json::object{{"keytype", keytype_name(type)},
                             {"scheme", scheme_name(type)},
                             {"keyval", boost::json::object{{"public", material}}}};
}

std::string hash_hex(const char* algo, std::string_view bytes) {
  auto h = Botan::HashFunction::create_or_throw(algo);
  h->update(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return Botan::hex_encode(h->final(), false);
}

}  // namespace

const char* keytype_name(KeyType t) {
  switch (t) {
    case KeyType::ed25519: return "ed25519";
    case KeyType::ecdsa_p256: return "ecdsa";
    case KeyType::rsa_pss: return "rsa";
  }
  return "ed25519";
}

const char* scheme_name(KeyType t) {
  switch (t) {
    case KeyType::ed25519: return "ed25519";
    case KeyType::ecdsa_p256: return "ecdsa-sha2-nistp256";
    case KeyType::rsa_pss: return "rsassa-pss-sha256";
  }
  return "ed25519";
}

std::optional<KeyType> parse_key_type_option(std::string_view text) {
  if (text == "ed25519") return KeyType::ed25519;
  if (text == "ecdsa" || text == "ecdsa-sha2-nistp256") return KeyType::ecdsa_p256;
  if (text == "rsa" || text == "rsassa-pss-sha256") return KeyType::rsa_pss;
  return std::nullopt;
}

std::string sha256_hex(std::string_view bytes) { return hash_hex("SHA-256", bytes); }
std::string sha512_hex(std::string_view bytes) { return hash_hex("SHA-512", bytes); }

PublicKey::PublicKey(PublicKey&&) noexcept = default;
PublicKey& PublicKey::operator=(PublicKey&&) noexcept = default;
PublicKey::~PublicKey() = default;

Result<PublicKey> PublicKey::from_json(const boost::json::value& v, const std::string& where) {
  auto bad = [&](const std::string& what) { return make_error(Errc::invalid_input, where + ": " + what); };
  const auto* obj = v.if_object();
  if (!obj) return bad("expected a key object");
  const auto* kt = obj->if_contains("keytype");
  const auto* sc = obj->if_contains("scheme");
  const auto* kv = obj->if_contains("keyval");
  if (!kt || !kt->is_string()) return bad("keytype: expected a string");
  if (!sc || !sc->is_string()) return bad("scheme: expected a string");
  if (!kv || !kv->is_object()) return bad("keyval: expected an object");
  const auto* pub = kv->get_object().if_contains("public");
  if (!pub || !pub->is_string()) return bad("keyval.public: expected a string");
  std::string keytype(kt->get_string()), scheme(sc->get_string()), material(pub->get_string());
  if (material.size() > kMaxKeyText) return bad("keyval.public: longer than " + std::to_string(kMaxKeyText) + " bytes");

  PublicKey k;
  k.keytype_text_ = keytype;
  k.scheme_text_ = scheme;
  k.written_ = material;
  try {
    if (keytype == "ed25519" && scheme == "ed25519") {
      if (!is_hex(material) || material.size() != 64) return bad("keyval.public: expected 64 hex digits (ed25519)");
      k.type_ = KeyType::ed25519;
      k.key_ = std::make_unique<Botan::Ed25519_PublicKey>(Botan::hex_decode(material));
    } else if ((keytype == "ecdsa" || keytype == "ecdsa-sha2-nistp256") && scheme == "ecdsa-sha2-nistp256") {
      k.type_ = KeyType::ecdsa_p256;
      Botan::DataSource_Memory src(material);
      std::unique_ptr<Botan::Public_Key> key(Botan::X509::load_key(src));
      auto* ec = dynamic_cast<Botan::ECDSA_PublicKey*>(key.get());
      if (!ec) return bad("keyval.public: expected a PEM ECDSA public key");
      if (ec->domain().get_curve_oid() != Botan::OID::from_string("secp256r1")) {
        return bad("keyval.public: expected a NIST P-256 key");
      }
      k.key_ = std::move(key);
    } else if (keytype == "rsa" && scheme == "rsassa-pss-sha256") {
      k.type_ = KeyType::rsa_pss;
      Botan::DataSource_Memory src(material);
      std::unique_ptr<Botan::Public_Key> key(Botan::X509::load_key(src));
      if (!dynamic_cast<Botan::RSA_PublicKey*>(key.get())) return bad("keyval.public: expected a PEM RSA public key");
      if (key->key_length() < kMinRsaBits) return bad("keyval.public: RSA keys must have at least 2048 bits");
      k.key_ = std::move(key);
    } else {
      return bad("unsupported keytype/scheme \"" + keytype + "\"/\"" + scheme +
                 "\" (expected ed25519, ecdsa-sha2-nistp256 or rsassa-pss-sha256)");
    }
    k.material_ = public_material(k.type_, *k.key_);
  } catch (const std::exception& e) {
    return bad(std::string("keyval.public: not a valid key (") + e.what() + ")");
  }
  return k;
}

bool PublicKey::verify(std::string_view message, std::string_view signature_hex) const {
  if (!is_hex(signature_hex) || signature_hex.size() > 2048) return false;
  try {
    auto sig = Botan::hex_decode(std::string(signature_hex));
    Botan::PK_Verifier verifier(*key_, emsa(type_), sig_format(type_));
    return verifier.verify_message(reinterpret_cast<const uint8_t*>(message.data()), message.size(), sig.data(),
                                   sig.size());
  } catch (const std::exception&) {
    return false;
  }
}

boost::json::value PublicKey::to_json() const {
  return boost::json::object{{"keytype", keytype_text_},
                             {"scheme", scheme_text_},
                             {"keyval", boost::json::object{{"public", written_}}}};
}

std::string PublicKey::keyid() const { return sha256_hex(canonical_json(to_json()).value()); }

SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

SigningKey SigningKey::generate(KeyType type, std::size_t rsa_bits) {
  Botan::AutoSeeded_RNG rng;
  SigningKey k;
  k.type_ = type;
  switch (type) {
    case KeyType::ed25519: k.key_ = std::make_unique<Botan::Ed25519_PrivateKey>(rng); break;
    case KeyType::ecdsa_p256:
      k.key_ = std::make_unique<Botan::ECDSA_PrivateKey>(rng, Botan::EC_Group("secp256r1"));
      break;
    case KeyType::rsa_pss: k.key_ = std::make_unique<Botan::RSA_PrivateKey>(rng, std::max(rsa_bits, kMinRsaBits)); break;
  }
  return k;
}

Result<SigningKey> SigningKey::from_pkcs8_pem(std::string_view pem, const std::string& file) {
  try {
    Botan::DataSource_Memory src(std::string{pem});
    std::unique_ptr<Botan::Private_Key> key = Botan::PKCS8::load_key(src);
    SigningKey k;
    if (dynamic_cast<Botan::Ed25519_PrivateKey*>(key.get())) {
      k.type_ = KeyType::ed25519;
    } else if (auto* ec = dynamic_cast<Botan::ECDSA_PrivateKey*>(key.get())) {
      if (ec->domain().get_curve_oid() != Botan::OID::from_string("secp256r1")) {
        return make_error(Errc::invalid_input, file + ": ECDSA keys must be on NIST P-256");
      }
      k.type_ = KeyType::ecdsa_p256;
    } else if (dynamic_cast<Botan::RSA_PrivateKey*>(key.get())) {
      if (key->key_length() < kMinRsaBits) return make_error(Errc::invalid_input, file + ": RSA key below 2048 bits");
      k.type_ = KeyType::rsa_pss;
    } else {
      return make_error(Errc::invalid_input, file + ": unsupported private key type " + key->algo_name());
    }
    k.key_ = std::move(key);
    return k;
  } catch (const std::exception& e) {
    return make_error(Errc::invalid_input, file + ": not an unencrypted PKCS#8 PEM private key (" + e.what() + ")");
  }
}

std::string SigningKey::to_pkcs8_pem() const { return Botan::PKCS8::PEM_encode(*key_); }

boost::json::value SigningKey::public_json() const { return key_json(type_, public_material(type_, *key_)); }

std::string SigningKey::keyid() const { return sha256_hex(canonical_json(public_json()).value()); }

std::string SigningKey::sign(std::string_view message) const {
  Botan::AutoSeeded_RNG rng;
  Botan::PK_Signer signer(*key_, rng, emsa(type_), sig_format(type_));
  auto sig = signer.sign_message(reinterpret_cast<const uint8_t*>(message.data()), message.size(), rng);
  return Botan::hex_encode(sig, false);
}

}  // namespace mitigd::feed
