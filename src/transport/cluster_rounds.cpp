#include "transport/cluster_rounds.hpp"

namespace flashsale::detail {

Settlement settle(const Reply& reply, std::string_view node_host, int redirects,
                  int max_redirects) {
  Settlement settlement;
  if (auto redirect = parse_redirect(reply, node_host)) {
    if (redirects < max_redirects) {
      settlement.kind = Settlement::Kind::Redirect;
      settlement.redirect = std::move(redirect);
    }
    return settlement;
  }
  if (is_transient_cluster_error(reply)) {
    settlement.kind = Settlement::Kind::Transient;
  }
  return settlement;
}

}  // namespace flashsale::detail
