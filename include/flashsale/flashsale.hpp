// Everything flashsale offers, in one include.
//
// Not included: flashsale/sqlite_outbox_store.hpp, flashsale/postgres_outbox_store.hpp
// (optional targets: the first needs SQLite and lives in flashsale::outbox_sqlite,
// the second needs libpq and lives in flashsale::outbox_postgres; include them
// yourself when you link the target).
#pragma once

#include "flashsale/client.hpp"
#include "flashsale/cluster_client.hpp"
#include "flashsale/component_metrics.hpp"
#include "flashsale/connection_options.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/durability.hpp"
#include "flashsale/error.hpp"
#include "flashsale/export.hpp"
#include "flashsale/hash_slot.hpp"
#include "flashsale/hold_reaper.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/log.hpp"
#include "flashsale/metrics.hpp"
#include "flashsale/outbox.hpp"
#include "flashsale/outbox_relay.hpp"
#include "flashsale/periodic_thread.hpp"
#include "flashsale/preflight.hpp"
#include "flashsale/redis_stream_publisher.hpp"
#include "flashsale/reply.hpp"
#include "flashsale/sale_scheduler.hpp"
#include "flashsale/sale_scheduler_runner.hpp"
#include "flashsale/script.hpp"
#include "flashsale/sentinel_client.hpp"
#include "flashsale/sharded_coupon_issuer.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"
#include "flashsale/stream_consumer.hpp"
#include "flashsale/version.hpp"
#include "flashsale/waiting_room.hpp"
#include "flashsale/waiting_room_runner.hpp"
