// Everything flashsale offers, in one include.
#pragma once

#include "flashsale/client.hpp"
#include "flashsale/connection_options.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/error.hpp"
#include "flashsale/hold_reaper.hpp"
#include "flashsale/key_space.hpp"
#include "flashsale/log.hpp"
#include "flashsale/preflight.hpp"
#include "flashsale/reply.hpp"
#include "flashsale/script.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"
#include "flashsale/version.hpp"
