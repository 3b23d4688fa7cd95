// The library's coupon issue against the ceiling: redis-benchmark running the
// library's own issue_coupon script on the same server, with the same keys,
// the same random users, the same connection count and pipeline depth.
//
//   coupon_ceiling_bench [--smoke] [--rounds N]
//
// Prints `ratio <shape> <library ops/s / redis-benchmark ops/s>` per shape,
// then the raw figures. Each figure is the best of N rounds (default 3); every
// round starts from an empty server. Goals: sync >= 0.95, pipelined and
// 8 threads >= 0.90. Nothing is asserted: the machine is shared and noisy.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench_server.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/script.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kCoupon = "bench";
constexpr std::int64_t kEventsCap = 100000;
// Users are drawn from [0, kUserRange), as redis-benchmark's -r draws __rand_int__.
constexpr std::int64_t kUserRange = 1'000'000'000;

struct Shape {
  const char* name;
  int connections;
  int pipeline;
  std::int64_t operations;  // per round, at full size
};

void register_coupon(flashsale::Client& client) {
  flashsale::CouponIssuerOptions options;
  options.events_max_length = kEventsCap;
  flashsale::FirstComeCouponIssuer issuer(client, options);
  const auto now = std::chrono::system_clock::now();
  issuer.register_template({kCoupon, std::int64_t{1} << 50, now - std::chrono::hours(1),
                            now + std::chrono::hours(24), 1});
  // redis-benchmark sends EVALSHA only: the script must be cached already.
  client.execute(
      {{"SCRIPT", "LOAD", std::string(flashsale::bundled_script("issue_coupon").source)}, {}, {}});
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

// Runs redis-benchmark with EVALSHA of the bundled script; returns its ops/s.
double run_redis_benchmark(const bench::BenchServer& server, const Shape& shape,
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
  // --csv: a header line, then "EVALSHA ...","<rps>",...
  const auto line_start = output.rfind("\"EVALSHA");
  if (line_start == std::string::npos) {
    throw std::runtime_error("unexpected redis-benchmark output:\n" + output);
  }
  const auto rps_start = output.find("\",\"", line_start);
  if (rps_start == std::string::npos) {
    throw std::runtime_error("unexpected redis-benchmark output:\n" + output);
  }
  return std::atof(output.c_str() + rps_start + 3);
}

// The library doing the same work: issue() per call, or issue_many() batches
// of `pipeline` users; `connections` threads over a pool of that size.
double run_library(const bench::BenchServer& server, const Shape& shape, std::int64_t operations) {
  auto client = server.make_client(static_cast<std::size_t>(shape.connections));
  flashsale::CouponIssuerOptions options;
  options.events_max_length = kEventsCap;
  options.eviction_check = flashsale::EvictionPolicyCheck::Skip;
  flashsale::FirstComeCouponIssuer issuer(*client, options);
  client->execute({{"PING"}, {}, {}});  // connect before the clock starts

  std::atomic<std::int64_t> issued{0};
  const std::int64_t per_thread = operations / shape.connections;
  const auto started = Clock::now();
  std::vector<std::thread> threads;
  for (int thread = 0; thread < shape.connections; ++thread) {
    threads.emplace_back([&, thread] {
      std::mt19937_64 random(static_cast<std::uint64_t>(thread) * 7919 + 17);
      std::uniform_int_distribution<std::int64_t> user(0, kUserRange - 1);
      std::int64_t local_issued = 0;
      std::vector<std::string> batch;
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
      issued += local_issued;
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (issued.load() == 0) {
    throw std::runtime_error("the library issued nothing: the benchmark is broken");
  }
  return static_cast<double>(per_thread * shape.connections) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const bool smoke = bench::take_smoke_flag(argc, argv);
  int rounds = smoke ? 1 : 3;
  for (int index = 1; index + 1 < argc; ++index) {
    if (std::strcmp(argv[index], "--rounds") == 0) {
      rounds = std::max(1, std::atoi(argv[index + 1]));
    }
  }
  const std::vector<Shape> shapes = {
      {"sync", 1, 1, 60000}, {"pipelined32", 1, 32, 600000}, {"threads8", 8, 1, 240000}};
  try {
    bench::BenchServer server;
    std::vector<std::string> raw;
    for (const auto& shape : shapes) {
      const std::int64_t operations = smoke ? 3200 : shape.operations;
      double best_ceiling = 0;
      double best_library = 0;
      for (int round = 0; round < rounds; ++round) {
        server.flush();
        {
          auto client = server.make_client(1);
          register_coupon(*client);
        }
        best_ceiling = std::max(best_ceiling, run_redis_benchmark(server, shape, operations));
        server.flush();
        {
          auto client = server.make_client(1);
          register_coupon(*client);
        }
        best_library = std::max(best_library, run_library(server, shape, operations));
      }
      std::printf("ratio %s %.3f\n", shape.name, best_library / best_ceiling);
      std::fflush(stdout);
      raw.push_back(fmt::format(
          "{:<12} connections={} pipeline={} operations={} redis-benchmark={:.0f} ops/s "
          "library={:.0f} ops/s",
          shape.name, shape.connections, shape.pipeline, operations, best_ceiling, best_library));
    }
    for (const auto& line : raw) {
      std::printf("%s\n", line.c_str());
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "coupon_ceiling_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
