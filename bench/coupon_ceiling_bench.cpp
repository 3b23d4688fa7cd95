// The library's coupon issue against two ceilings on the same server, with
// the same keys, the same random users, the same connection count and
// pipeline depth: redis-benchmark running the library's own issue_coupon
// script, and a plain hiredis loop (raw_hiredis_loop.cpp: one redisContext
// per thread, redisAppendCommandArgv + redisGetReply, EVALSHA, no library
// code), the practical limit of a client on hiredis.
//
//   coupon_ceiling_bench [--smoke] [--rounds N] [--shape NAME] [--no-pin]
//                        [--shared-connections N] [--loop-timeout-ms N]
//
// Shapes: sync (1 connection), pipelined32 (1 connection, issue_many of 32),
// threads8 / threads32 (8 / 32 threads over a pool of as many connections),
// threads8-default / threads32-default (the same threads on the default
// PoolOptions: what `StandaloneClient redis;` gives), threads8-shared<N>
// (8 threads with PoolOptions::shared_connections = N, default 2:
// auto-pipelining). redis-benchmark and the hiredis loop always use one
// connection per thread (-c threads -P pipeline). --loop-timeout-ms gives
// the hiredis loop's sockets a timeout (redisSetTimeout), as the library's
// have (command_timeout; 0, the default, sets none).
// Prints per shape `ratio <shape> <library ops/s / redis-benchmark ops/s>`
// and `ratio-hiredis <shape> <library ops/s / hiredis loop ops/s>`, then the
// raw figures, the client CPU per call (getrusage of the client process),
// the allocations per call (operator new, counted per thread in this binary
// only; hiredis's own malloc calls are not counted, on either side) and the
// server CPU per call (INFO cpu). Each figure is the best of N rounds
// (default 3); every round starts from an empty server.
//
// By default redis-server runs on one CPU and both clients on the others,
// so that on a small machine neither client's threads take the server's core
// (with 8 blocking threads on 2 shared cores the scheduler, not the library,
// decides the figure); --no-pin measures without that placement.
// Goals: sync >= 0.95, pipelined and 8 threads >= 0.90. Nothing is asserted:
// the machine is shared and noisy.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include <fmt/format.h>

#include "allocation_counter.hpp"
#include "bench_args.hpp"
#include "bench_server.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/script.hpp"
#include "raw_hiredis_loop.hpp"
#include "redis_server.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kCoupon = "bench";
constexpr std::size_t kEventsCap = 100000;
// Users are drawn from [0, kUserRange), as redis-benchmark's -r draws __rand_int__.
constexpr std::int64_t kUserRange = 1'000'000'000;

// One side's run: throughput, and the CPU each operation cost the client
// process and the redis-server process.
struct Measurement {
  double operations_per_second = 0;
  double client_microseconds_per_operation = 0;
  double server_microseconds_per_operation = 0;
  double allocations_per_operation = 0;  // operator new; -1 when not counted
};

struct Shape {
  std::string name;
  int connections;  // redis-benchmark's clients; the library's and the hiredis loop's threads
  int pipeline;
  std::int64_t operations;  // per round, at full size
  // The library's PoolOptions::shared_connections (auto-pipelining); 0 = off.
  std::size_t shared_connections = 0;
  // The library's pool size: 0 = one connection per thread, else this size.
  std::size_t pool_size = 0;
};

void register_coupon(flashsale::Client& client) {
  flashsale::FirstComeCouponIssuerOptions options;
  options.max_stream_length = kEventsCap;
  flashsale::FirstComeCouponIssuer issuer(client, options);
  const auto now = std::chrono::system_clock::now();
  issuer.register_template({kCoupon, std::int64_t{1} << 50, now - std::chrono::hours(1),
                            now + std::chrono::hours(24), 1});
  // redis-benchmark sends EVALSHA only: the script must be cached already.
  client.execute(
      {{"SCRIPT", "LOAD", std::string(flashsale::bundled_script("issue_coupon").source)}, {}, {}});
}

// CPU seconds (user + system) of this process, or of its waited-for children.
double cpu_seconds(int who) {
  rusage usage{};
  ::getrusage(who, &usage);
  const auto seconds = [](const timeval& value) {
    return static_cast<double>(value.tv_sec) + static_cast<double>(value.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// used_cpu_sys + used_cpu_user of the server's main process, from INFO cpu.
double server_cpu_seconds(const bench::BenchServer& server) {
  const std::string info = server.make_client(1)->execute({{"INFO", "cpu"}, {}, {}}).as_string();
  return flashsale::testing::info_number(info, "used_cpu_sys:").value_or(0) +
         flashsale::testing::info_number(info, "used_cpu_user:").value_or(0);
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char character : text) {
    if (character == '\'') {
      quoted += "'\\''";
    } else {
      quoted += character;
    }
  }
  return quoted + "'";
}

std::string redis_benchmark_executable() {
  const char* configured = std::getenv("FLASHSALE_REDIS_BENCHMARK");
  return configured != nullptr && *configured != '\0' ? configured : "redis-benchmark";
}

// Runs redis-benchmark with EVALSHA of the bundled script.
Measurement run_redis_benchmark(const bench::BenchServer& server, const Shape& shape,
                                std::int64_t operations) {
  const flashsale::KeySpace keys;
  std::string command = fmt::format("{} -h {} -p {} -n {} -c {} -P {} -r {} --csv EVALSHA {} 6",
                                    redis_benchmark_executable(), server.host(), server.port(),
                                    operations, shape.connections, shape.pipeline, kUserRange,
                                    flashsale::bundled_script("issue_coupon").sha1);
  for (const char* suffix : {"meta", "stock", "issued", "queue", "seq", "events"}) {
    command += " " + shell_quote(keys.key("coupon", kCoupon, suffix));
  }
  command += fmt::format(" {} {} {} 2>&1", kCoupon, shell_quote("user:__rand_int__"), kEventsCap);
  const double client_cpu_before = cpu_seconds(RUSAGE_CHILDREN);
  const double server_cpu_before = server_cpu_seconds(server);
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    throw std::runtime_error("cannot run redis-benchmark");
  }
  std::string output;
  char buffer[4096];
  std::size_t read = 0;
  while ((read = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, read);
  }
  if (::pclose(pipe) != 0) {
    throw std::runtime_error("redis-benchmark failed:\n" + output);
  }
  const double server_cpu = server_cpu_seconds(server) - server_cpu_before;
  const double client_cpu = cpu_seconds(RUSAGE_CHILDREN) - client_cpu_before;
  // --csv: a header line, then "EVALSHA ...","<rps>",...
  const auto line_start = output.rfind("\"EVALSHA");
  if (line_start == std::string::npos) {
    throw std::runtime_error("unexpected redis-benchmark output:\n" + output);
  }
  const auto rps_start = output.find("\",\"", line_start);
  if (rps_start == std::string::npos) {
    throw std::runtime_error("unexpected redis-benchmark output:\n" + output);
  }
  const double per_operation = 1e6 / static_cast<double>(operations);
  return {std::atof(output.c_str() + rps_start + 3), client_cpu * per_operation,
          server_cpu * per_operation, -1};
}

// The same EVALSHA through plain hiredis, one context per thread.
Measurement run_raw_hiredis(const bench::BenchServer& server, const Shape& shape,
                            std::int64_t operations, std::chrono::milliseconds timeout) {
  const flashsale::KeySpace keys;
  bench::RawHiredisLoop loop;
  loop.timeout = timeout;
  loop.host = server.host();
  loop.port = server.port();
  loop.threads = shape.connections;
  loop.pipeline = shape.pipeline;
  loop.operations_per_thread = operations / shape.connections;
  loop.user_range = kUserRange;
  loop.arguments = {"EVALSHA", std::string(flashsale::bundled_script("issue_coupon").sha1), "6"};
  for (const char* suffix : {"meta", "stock", "issued", "queue", "seq", "events"}) {
    loop.arguments.push_back(keys.key("coupon", kCoupon, suffix));
  }
  loop.arguments.insert(loop.arguments.end(), {kCoupon, "", std::to_string(kEventsCap)});
  loop.user_argument = loop.arguments.size() - 2;

  const double server_cpu_before = server_cpu_seconds(server);
  const double client_cpu_before = cpu_seconds(RUSAGE_SELF);
  const bench::RawHiredisResult result = bench::run_raw_hiredis_loop(loop);
  const double client_cpu = cpu_seconds(RUSAGE_SELF) - client_cpu_before;
  const double server_cpu = server_cpu_seconds(server) - server_cpu_before;
  if (result.issued == 0) {
    throw std::runtime_error("the hiredis loop issued nothing: the benchmark is broken");
  }
  const auto done = static_cast<double>(result.calls);
  return {done / result.seconds, client_cpu * 1e6 / done, server_cpu * 1e6 / done,
          static_cast<double>(result.allocations) / done};
}

// The library doing the same work: issue() per call, or issue_many() batches
// of `pipeline` users; `connections` threads over a pool of that size.
Measurement run_library(const bench::BenchServer& server, const Shape& shape,
                        std::int64_t operations) {
  auto client = server.make_client(
      shape.pool_size != 0 ? shape.pool_size : static_cast<std::size_t>(shape.connections),
      shape.shared_connections);
  flashsale::FirstComeCouponIssuerOptions options;
  options.max_stream_length = kEventsCap;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  flashsale::FirstComeCouponIssuer issuer(*client, options);
  client->execute({{"PING"}, {}, {}});  // connect before the clock starts

  std::atomic<std::int64_t> issued{0};
  std::atomic<std::uint64_t> allocations{0};
  const std::int64_t per_thread = operations / shape.connections;
  const double server_cpu_before = server_cpu_seconds(server);
  const double client_cpu_before = cpu_seconds(RUSAGE_SELF);
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int thread = 0; thread < shape.connections; ++thread) {
    threads.emplace_back([&, thread] {
      std::mt19937_64 random(static_cast<std::uint64_t>(thread) * 7919 + 17);
      std::uniform_int_distribution<std::int64_t> user(0, kUserRange - 1);
      std::int64_t local_issued = 0;
      std::vector<std::string> batch;
      batch.reserve(static_cast<std::size_t>(shape.pipeline));
      const std::uint64_t allocations_before = bench::thread_allocations();
      for (std::int64_t done = 0; done < per_thread;) {
        if (shape.pipeline == 1) {
          const auto result = issuer.issue(kCoupon, "user:" + std::to_string(user(random)));
          local_issued += result.status == flashsale::IssueStatus::Issued ? 1 : 0;
          ++done;
          continue;
        }
        batch.clear();
        for (int entry = 0; entry < shape.pipeline && done + entry < per_thread; ++entry) {
          batch.push_back("user:" + std::to_string(user(random)));
        }
        for (const auto& result : issuer.issue_many(kCoupon, batch)) {
          local_issued += result.status == flashsale::IssueStatus::Issued ? 1 : 0;
        }
        done += static_cast<std::int64_t>(batch.size());
      }
      allocations += bench::thread_allocations() - allocations_before;
      issued += local_issued;
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  const double client_cpu = cpu_seconds(RUSAGE_SELF) - client_cpu_before;
  const double server_cpu = server_cpu_seconds(server) - server_cpu_before;
  if (issued.load() == 0) {
    throw std::runtime_error("the library issued nothing: the benchmark is broken");
  }
  const auto done = static_cast<double>(per_thread * shape.connections);
  return {done / seconds, client_cpu * 1e6 / done, server_cpu * 1e6 / done,
          static_cast<double>(allocations.load()) / done};
}

std::string allocations_text(const Measurement& measurement) {
  return measurement.allocations_per_operation < 0
             ? std::string("-")
             : fmt::format("{:.1f}", measurement.allocations_per_operation);
}

}  // namespace

int main(int argc, char** argv) {
  const bench::BenchArgs args(argc, argv);
  const bool smoke = args.smoke();
  const int rounds = static_cast<int>(args.number("rounds", smoke ? 1 : 3));
  const std::string only_shape = args.text("shape", "");
  const auto shared_connections = static_cast<std::size_t>(args.number("shared-connections", 2));
  const bool pin = !args.flag("no-pin");
  const std::chrono::milliseconds loop_timeout{args.number("loop-timeout-ms", 0, 0)};
  const std::size_t default_pool = flashsale::PoolOptions{}.size;
  const std::vector<Shape> shapes = {
      {"sync", 1, 1, 60000},
      {"pipelined32", 1, 32, 600000},
      {"threads8", 8, 1, 240000},
      {"threads8-default", 8, 1, 240000, 0, default_pool},
      {"threads32", 32, 1, 240000},
      {"threads32-default", 32, 1, 240000, 0, default_pool},
      {fmt::format("threads8-shared{}", shared_connections), 8, 1, 240000, shared_connections}};
  const auto better = [](const Measurement& left, const Measurement& right) {
    return left.operations_per_second < right.operations_per_second;
  };
  try {
    bench::BenchServer server;
    const std::string placement =
        pin ? server.separate_server_and_client_cpus() : "not pinned (--no-pin)";
    std::vector<std::string> raw;
    for (const auto& shape : shapes) {
      if (!only_shape.empty() && only_shape != shape.name) {
        continue;
      }
      const std::int64_t operations = smoke ? 3200 : shape.operations;
      Measurement best_ceiling;
      Measurement best_hiredis;
      Measurement best_library;
      for (int round = 0; round < rounds; ++round) {
        server.flush();
        {
          auto client = server.make_client(1);
          register_coupon(*client);
        }
        best_ceiling =
            std::max(best_ceiling, run_redis_benchmark(server, shape, operations), better);
        server.flush();
        {
          auto client = server.make_client(1);
          register_coupon(*client);
        }
        best_library = std::max(best_library, run_library(server, shape, operations), better);
        server.flush();
        {
          auto client = server.make_client(1);
          register_coupon(*client);
        }
        best_hiredis = std::max(best_hiredis,
                                run_raw_hiredis(server, shape, operations, loop_timeout), better);
      }
      std::printf("ratio %s %.3f\n", shape.name.c_str(),
                  best_library.operations_per_second / best_ceiling.operations_per_second);
      std::printf("ratio-hiredis %s %.3f\n", shape.name.c_str(),
                  best_library.operations_per_second / best_hiredis.operations_per_second);
      std::fflush(stdout);
      raw.push_back(fmt::format(
          "{:<18} threads={} pool={} pipeline={} operations={} redis-benchmark={:.0f} ops/s "
          "hiredis-loop={:.0f} ops/s library={:.0f} ops/s",
          shape.name, shape.connections,
          shape.pool_size != 0 ? shape.pool_size : static_cast<std::size_t>(shape.connections),
          shape.pipeline, operations, best_ceiling.operations_per_second,
          best_hiredis.operations_per_second, best_library.operations_per_second));
      raw.push_back(fmt::format(
          "{:<18} client cpu per call (best rounds): redis-benchmark {:.1f} us, hiredis loop "
          "{:.1f} us, library {:.1f} us (library / hiredis loop {:.2f})",
          shape.name, best_ceiling.client_microseconds_per_operation,
          best_hiredis.client_microseconds_per_operation,
          best_library.client_microseconds_per_operation,
          best_library.client_microseconds_per_operation /
              best_hiredis.client_microseconds_per_operation));
      raw.push_back(fmt::format(
          "{:<18} allocations per call: hiredis loop {}, library {}; server cpu per call: "
          "redis-benchmark {:.1f} us, hiredis loop {:.1f} us, library {:.1f} us",
          shape.name, allocations_text(best_hiredis), allocations_text(best_library),
          best_ceiling.server_microseconds_per_operation,
          best_hiredis.server_microseconds_per_operation,
          best_library.server_microseconds_per_operation));
    }
    for (const auto& line : raw) {
      std::printf("%s\n", line.c_str());
    }
    std::printf("placement: %s\n", placement.c_str());
    std::printf("hiredis loop socket timeout: %lld ms (library: command_timeout %lld ms)\n",
                static_cast<long long>(loop_timeout.count()),
                static_cast<long long>(server.connection_options().command_timeout.count()));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "coupon_ceiling_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
