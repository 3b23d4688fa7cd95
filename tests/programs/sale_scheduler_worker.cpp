// A SaleSchedulerRunner in its own process, for tests that SIGKILL runners.
//
//   sale_scheduler_worker <port> <schedule> <batch-size> <poll-interval-ms> <poll-jitter-ms>
//
// Promotes the schedule's due events until SIGTERM; then prints its counters
// and exits 0.
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "flashsale/sale_scheduler.hpp"
#include "flashsale/sale_scheduler_runner.hpp"
#include "flashsale/standalone_client.hpp"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s port schedule batch-size poll-interval-ms poll-jitter-ms\n",
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
  flashsale::StandaloneClient client(connection, flashsale::PoolOptions{2, {}});
  flashsale::SaleScheduler scheduler(client);

  flashsale::SaleSchedulerRunnerOptions options;
  options.batch_size = static_cast<std::size_t>(std::atoi(argv[3]));
  options.poll_interval = std::chrono::milliseconds(std::atoi(argv[4]));
  options.poll_jitter = std::chrono::milliseconds(std::atoi(argv[5]));
  flashsale::SaleSchedulerRunner runner(scheduler, {argv[2]}, options);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  runner.stop();
  std::printf("calls=%zu promoted=%zu failures=%zu\n", runner.calls(), runner.promoted(),
              runner.failures());
  return 0;
}
