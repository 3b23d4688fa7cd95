// Checks that the server will not silently void the library's guarantees.
//
// With an eviction policy other than `noeviction`, Redis deletes keys under
// memory pressure: stock counters, holds and issued sets vanish without an
// error, and a sold-out sale can sell again. Components run this check when
// constructed.
#pragma once

#include "flashsale/client.hpp"
#include "flashsale/connection_options.hpp"
#include "flashsale/export.hpp"

namespace flashsale {

enum class EvictionPolicyCheck {
  Warn,    // log a warning and go on (the default)
  Refuse,  // throw ConfigurationError
  Skip,    // do not look
};

// Persistence (check_persistence): a server without AOF (`appendonly no`)
// brings back at most its last RDB snapshot after a restart or a crash, so
// every issue and hold acknowledged since is forgotten and sold again (the
// README's "what a failure can lose" table measures it). Clients run this
// check themselves, once per client, on their first INFO (every component
// constructor reads it): ConnectionOptions::persistence_check (for a
// ClusterClient, ClusterClientOptions::connection; for a SentinelClient,
// SentinelClientOptions::connection) says whether to warn, refuse or skip.
//
// `appendfsync` is not judged (a choice, measured by failure_loss_bench):
// under `always` a kill -9 of redis-server lost nothing acknowledged in any
// run; under `no` neither (the reply follows the write(2) to the AOF, and the
// kernel keeps what was written); under `everysec` a kill -9 lost nothing in
// most runs but 881 acknowledged issues in one of five, on a busy disk:
// Redis postpones the AOF write for up to 2 s while a background fsync lags,
// and answers clients meanwhile. So `everysec` (the usual setting) can lose
// up to about 2 s of writes on a crash, `always` closes that at a cost in
// throughput, and a crash of the whole machine loses what the kernel had not
// flushed under `everysec` and `no`. Replicas with opt-in durability
// (durability.hpp) are the answer to losing a process or a machine.

// Reads the policy through client.server_info(). Throws ConfigurationError
// under Refuse when the policy is not noeviction; transport errors propagate.
// Thread-safe when the client is.
FLASHSALE_EXPORT void check_eviction_policy(Client& client, EvictionPolicyCheck mode);

// Judges `info` (as read by a client): under Warn logs one warning when AOF
// is off, under Refuse throws ConfigurationError, under Skip does nothing.
// Pure: sends nothing. Clients call it once on their first INFO.
FLASHSALE_EXPORT void check_persistence(const ServerInfo& info, PersistenceCheck mode);

}  // namespace flashsale
