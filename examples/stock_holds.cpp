// The smallest complete StockReserver program: load a deal, hold a cart for
// ten minutes, confirm it, and read the figures back.
//
//   stock_holds [host] [port]      (default 127.0.0.1 6379)
#include <cstdio>
#include <cstdlib>
#include <string>

#include "flashsale/error.hpp"
#include "flashsale/hold_reaper.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stock_reserver.hpp"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  flashsale::ConnectionOptions connection;
  if (argc > 1) {
    connection.host = argv[1];
  }
  if (argc > 2) {
    connection.port = std::atoi(argv[2]);
  }
  try {
    flashsale::StandaloneClient client(connection);
    flashsale::StockReserver reserver(client);
    // Gives back the stock of abandoned carts while the sale runs.
    flashsale::HoldReaper reaper(reserver, {"summer-deal"});

    reserver.load("summer-deal", {{"phone-black", 100}, {"case-red", 50}},
                  flashsale::LoadMode::Replace);
    const auto hold =
        reserver.reserve("summer-deal", "order-1001", {{"phone-black", 1}, {"case-red", 2}}, 10min);
    if (hold.status != flashsale::ReserveStatus::Reserved) {
      std::puts("not reserved");
      return 1;
    }
    // ... the customer pays ...
    const auto confirmed = reserver.confirm("summer-deal", "order-1001");
    std::printf("confirmed: %s\n",
                confirmed.status == flashsale::ConfirmStatus::Confirmed ? "yes" : "no");

    for (const auto& sku : reserver.end_sale("summer-deal").skus) {
      std::printf("%s: initial %lld, available %lld, held %lld, confirmed %lld\n", sku.sku.c_str(),
                  static_cast<long long>(sku.initial), static_cast<long long>(sku.available),
                  static_cast<long long>(sku.held), static_cast<long long>(sku.confirmed));
    }
    return 0;
  } catch (const flashsale::Error& error) {
    std::fprintf(stderr, "flashsale: %s\n", error.what());
    return 1;
  }
}
