#include "state/audit_chain.hpp"

#include <botan/hex.h>
#include <botan/mac.h>

namespace mitigd::state {

const std::string& AuditChain::genesis() {
  static const std::string g(64, '0');
  return g;
}

std::string AuditChain::hash(const std::string& prev_hash, std::int64_t seq, const AuditEntry& e) const {
  auto mac = Botan::MessageAuthenticationCode::create_or_throw("HMAC(SHA-256)");
  mac->set_key(reinterpret_cast<const uint8_t*>(key_.data()), key_.size());
  // Length-prefix every field so that moving bytes between fields changes the hash.
  auto field = [&](const std::string& s) {
    std::uint64_t n = s.size();
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    mac->update(len, 8);
    mac->update(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  field(prev_hash);
  field(std::to_string(seq));
  field(e.at);
  field(e.event);
  field(e.mitigation_id);
  field(std::to_string(e.revision));
  field(e.run_id);
  field(e.actor);
  field(e.message);
  field(e.detail);
  return Botan::hex_encode(mac->final(), false);
}

std::optional<ChainBreak> AuditChain::verify(const std::vector<AuditRecord>& records) const {
  std::string prev = genesis();
  std::int64_t expected_seq = 1;
  for (const AuditRecord& r : records) {
    if (r.seq != expected_seq) {
      return ChainBreak{r.seq, r.seq > expected_seq
                                   ? "records " + std::to_string(expected_seq) + ".." + std::to_string(r.seq - 1) +
                                         " are missing (deleted)"
                                   : "sequence number out of order (expected " + std::to_string(expected_seq) + ")"};
    }
    if (r.prev_hash != prev) {
      return ChainBreak{r.seq, "does not link to the record before it (inserted, deleted or reordered)"};
    }
    if (hash(prev, r.seq, r) != r.hash) {
      return ChainBreak{r.seq, "content does not match its hash (edited)"};
    }
    prev = r.hash;
    ++expected_seq;
  }
  return std::nullopt;
}

}  // namespace mitigd::state
