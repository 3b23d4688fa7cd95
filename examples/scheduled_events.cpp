// The smallest complete SaleScheduler program: schedule a coupon opening two
// seconds ahead, let a runner promote it by the server clock, and handle it
// from the schedule's stream.
//
//   scheduled_events [host] [port]      (default 127.0.0.1 6379)
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "flashsale/error.hpp"
#include "flashsale/sale_scheduler.hpp"
#include "flashsale/sale_scheduler_runner.hpp"
#include "flashsale/standalone_client.hpp"
#include "flashsale/stream_consumer.hpp"

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
    flashsale::SaleScheduler scheduler(client);
    // Idempotent per event id: a retry answers AlreadyScheduled, and an id
    // that fired never fires again.
    const auto scheduled = scheduler.schedule("summer", "coupon-open:summer-10",
                                              std::chrono::system_clock::now() + 2s, "summer-10");
    if (scheduled.status == flashsale::ScheduleStatus::AlreadyPromoted) {
      std::puts("coupon-open:summer-10 fired in an earlier run");
      return 0;
    }

    // Run one in every instance of the host: no leader, no lock.
    flashsale::SaleSchedulerRunner runner(scheduler, {"summer"});

    flashsale::StreamConsumerOptions options;
    options.streams = {scheduler.stream("summer")};
    options.group = "openings";
    options.consumer = "instance-1";
    options.block_timeout = 500ms;
    flashsale::StreamConsumer consumer(client, options);
    // poll_once blocks up to block_timeout while nothing has fired.
    std::size_t handled = 0;
    while (handled == 0) {
      handled = consumer.poll_once([](const flashsale::StreamMessage& message) {
        const auto event = flashsale::parse_fired_event(message);
        // At-least-once: act idempotently on event.event_id.
        std::printf("%s fired %lld ms late: open coupon %s\n", event.event_id.c_str(),
                    static_cast<long long>(event.lateness().count()), event.payload.c_str());
        return flashsale::HandlerOutcome::Ack;
      });
    }
    const auto stats = scheduler.stats("summer");
    std::printf("promoted %lld, overdue now %zu, lateness max %lld ms\n",
                static_cast<long long>(stats.promoted), stats.overdue,
                static_cast<long long>(stats.lateness_max.value_or(0ms).count()));
    return 0;
  } catch (const flashsale::Error& error) {
    std::fprintf(stderr, "flashsale: %s\n", error.what());
    return 1;
  }
}
