// A StreamConsumer in its own process, for tests that SIGKILL consumers.
//
//   stream_consumer_worker <port> <stream> <group> <consumer> <handled-set> <count-key>
//                          <batch-size> <claim-idle-ms> <claim-interval-ms> <block-ms>
//                          [batch]
//
// The handler records each entry idempotently: SADD <handled-set> <id> and
// INCR <count-key> in one pipeline, so SCARD is the number of distinct entries
// handled and the counter minus SCARD the number of duplicate handlings. An
// entry with the field crash=1 makes the process exit abruptly after its
// effect and before the acknowledgement, on its first delivery only.
// SIGTERM stops the consumer; it then prints its stats and exits 0.
//
// With "batch" the consumer runs a batch handler that records the whole batch
// in one pipeline, like one database transaction; when the batch holds a
// crash=1 entry on its first delivery it records the first half of the batch
// only and exits abruptly: killed in the middle of a batch.
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "flashsale/standalone_client.hpp"
#include "flashsale/stream_consumer.hpp"

namespace {

bool should_crash(const flashsale::StreamMessage& message) {
  if (message.delivery_count != 1) {
    return false;
  }
  for (const auto& [name, value] : message.fields) {
    if (name == "crash" && value == "1") {
      return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 11 && argc != 12) {
    std::fprintf(stderr,
                 "usage: %s port stream group consumer handled-set count-key batch-size "
                 "claim-idle-ms claim-interval-ms block-ms [batch]\n",
                 argv[0]);
    return 2;
  }
  // Never outlive the test that started us, even when it crashes.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  flashsale::ConnectionOptions connection;
  connection.port = std::atoi(argv[1]);
  connection.command_timeout = std::chrono::milliseconds(5000);
  flashsale::StandaloneClient client(connection, flashsale::PoolOptions{4, {}});

  flashsale::StreamConsumerOptions options;
  options.streams = {argv[2]};
  options.group = argv[3];
  options.consumer = argv[4];
  const std::string handled_set = argv[5];
  const std::string count_key = argv[6];
  options.batch_size = static_cast<std::size_t>(std::atoi(argv[7]));
  options.claim_idle = std::chrono::milliseconds(std::atoi(argv[8]));
  options.claim_interval = std::chrono::milliseconds(std::atoi(argv[9]));
  options.block_timeout = std::chrono::milliseconds(std::atoi(argv[10]));
  options.retry_backoff = std::chrono::milliseconds(100);
  options.max_deliveries = 1000;
  flashsale::StreamConsumer consumer(client, options);

  std::thread signal_waiter([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    consumer.stop();
  });

  const auto handler = [&](const flashsale::StreamMessage& message) {
    const auto replies =
        client.execute_pipeline({{{"SADD", handled_set, message.id}, handled_set, {}},
                                 {{"INCR", count_key}, count_key, {}}});
    for (const auto& reply : replies) {
      reply.throw_if_error();
    }
    if (should_crash(message)) {
      std::_Exit(3);
    }
    return flashsale::HandlerOutcome::Ack;
  };
  const auto batch_handler = [&](const std::vector<flashsale::StreamMessage>& messages) {
    bool crash = false;
    for (const auto& message : messages) {
      crash = crash || should_crash(message);
    }
    const std::size_t recorded = crash ? messages.size() / 2 : messages.size();
    std::vector<flashsale::Command> commands;
    for (std::size_t i = 0; i < recorded; ++i) {
      commands.push_back({{"SADD", handled_set, messages[i].id}, handled_set, {}});
      commands.push_back({{"INCR", count_key}, count_key, {}});
    }
    if (!commands.empty()) {
      for (const auto& reply : client.execute_pipeline(commands)) {
        reply.throw_if_error();
      }
    }
    if (crash) {
      std::_Exit(3);
    }
    return std::vector<flashsale::HandlerOutcome>(messages.size(), flashsale::HandlerOutcome::Ack);
  };
  try {
    if (argc == 12 && std::string(argv[11]) == "batch") {
      consumer.run_batches(batch_handler);
    } else {
      consumer.run(handler);
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s: %s\n", options.consumer.c_str(), error.what());
    std::_Exit(1);
  }
  signal_waiter.join();

  const auto stats = consumer.stats();
  std::printf("%s delivered=%lld acked=%lld reclaimed=%lld\n", options.consumer.c_str(),
              static_cast<long long>(stats.delivered), static_cast<long long>(stats.acked),
              static_cast<long long>(stats.reclaimed));
  return 0;
}
