// Opt-in durability: a state-changing script is followed by `WAIT numreplicas
// timeout` on the same connection, in the same pipeline (one round trip), so
// a call returns normally only once that many replicas hold its write.
//
// What it buys: Redis replicates asynchronously, so a master that dies right
// after answering can take the write with it, and the promoted replica then
// hands the same unit out again. With DurabilityOptions::replicas = 1 and one
// replica per master, a call that returned normally survives the loss of its
// master (the replica that confirmed is the one Sentinel or the cluster
// promotes; with several replicas per master ask for all of them, or accept
// that a failover may promote one that did not confirm).
//
// What it does not buy: WAIT does not make the write atomic across nodes. When
// fewer replicas confirm in time the write has still happened on the master
// and may survive or be lost; the call throws DurabilityError (not a value:
// nothing of the typed business result can be trusted to last). Every
// state-changing flashsale call is idempotent per caller id, so the answer is
// to retry with the same ids: the retry reports the outcome that stuck
// (e.g. AlreadyIssued with the original sequence) once replicas confirm.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "flashsale/error.hpp"
#include "flashsale/export.hpp"
#include "flashsale/reply.hpp"

namespace flashsale {

// Part of ConnectionOptions, so it applies to StandaloneClient, SentinelClient
// and (through ClusterClientOptions::connection) ClusterClient alike.
struct DurabilityOptions {
  // Replicas that must confirm the writes of every script call before the
  // call returns normally. 0 (the default): off, no WAIT is sent.
  int replicas = 0;
  // The WAIT timeout. Must be shorter than ConnectionOptions::command_timeout
  // (the WAIT is read within it); 0 waits forever and then needs a
  // command_timeout of 0 too.
  std::chrono::milliseconds timeout{500};
};

// Which calls are followed by WAIT: every run_script / run_script_pipeline
// call except the bundled scripts that never write (coupon_stats and
// coupon_shard_stats, read by FirstComeCouponIssuer::stats and
// ShardedCouponIssuer::stats). Commands sent with execute() / execute_pipeline() (XACK,
// XADD of the stream consumer, reads) are not: they are not flashsale's
// business writes. A pipeline gets one WAIT after its last script (WAIT covers
// every earlier write of the connection); on a cluster, one per master the
// pipeline reached. A pipeline whose scripts all failed (error replies: they
// wrote nothing) never throws DurabilityError.
//
// Thrown by run_script / run_script_pipeline, and so by every component call
// that runs a state-changing script, when fewer than `requested` replicas
// confirmed within the timeout. The write happened on the master and may be
// lost on a failover; retrying the same call with the same ids is safe.
//
// Known limit: WAIT waits for the latest write of its own connection. A retry
// that writes nothing (answered AlreadyIssued) on another pooled connection
// may be confirmed before the original write reached a replica; it is only
// as durable as the original write turns out to be.
class FLASHSALE_EXPORT DurabilityError : public Error {
 public:
  DurabilityError(const std::string& message, std::vector<Reply> replies, int acknowledged,
                  int requested)
      : Error(message),
        replies_(std::move(replies)),
        acknowledged_(acknowledged),
        requested_(requested) {}

  // The scripts' replies as the server gave them, in the caller's order (the
  // raw business results; components do not turn them into typed results).
  const std::vector<Reply>& replies() const noexcept { return replies_; }
  // The fewest replicas that confirmed any part of the call, and how many
  // were asked for.
  int acknowledged_replicas() const noexcept { return acknowledged_; }
  int requested_replicas() const noexcept { return requested_; }

 private:
  std::vector<Reply> replies_;
  int acknowledged_ = 0;
  int requested_ = 0;
};

}  // namespace flashsale
