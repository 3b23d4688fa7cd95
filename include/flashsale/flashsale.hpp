// Everything flashsale offers, in one include.
//
// Not included: flashsale/sqlite_outbox_store.hpp, which needs SQLite and
// lives in the optional target flashsale::outbox_sqlite; include it yourself
// when you link that target.
#pragma once

#include "flashsale/client.hpp"
#include "flashsale/component_metrics.hpp"
#include "flashsale/connection_options.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hold_reaper.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/log.hpp"
#include "flashsale/metrics.hpp"
#include "flashsale/outbox.hpp"
#include "flashsale/outbox_relay.hpp"
#include "flashsale/preflight.hpp"
#include "flashsale/redis_stream_publisher.hpp"
#include "flashsale/reply.hpp"
#include "flashsale/script.hpp"
#include "flashsale/sliding_window_ranking.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"
#include "flashsale/stream_consumer.hpp"
#include "flashsale/version.hpp"
