#include "raw_hiredis_loop.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "allocation_counter.hpp"

namespace bench {

namespace {

struct ContextDeleter {
  void operator()(redisContext* context) const { redisFree(context); }
};

std::int64_t run_one_thread(const RawHiredisLoop& loop, int thread) {
  std::unique_ptr<redisContext, ContextDeleter> context(redisConnect(loop.host.c_str(), loop.port));
  if (context == nullptr || context->err != 0) {
    throw std::runtime_error(std::string("hiredis connect: ") +
                             (context ? context->errstr : "no context"));
  }
  if (loop.timeout.count() > 0) {
    timeval timeout{};
    timeout.tv_sec = static_cast<decltype(timeout.tv_sec)>(loop.timeout.count() / 1000);
    timeout.tv_usec = static_cast<decltype(timeout.tv_usec)>((loop.timeout.count() % 1000) * 1000);
    if (redisSetTimeout(context.get(), timeout) != REDIS_OK) {
      throw std::runtime_error("hiredis: cannot set the socket timeout");
    }
  }
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  for (const auto& argument : loop.arguments) {
    pointers.push_back(argument.data());
    lengths.push_back(argument.size());
  }
  // The same users the library's threads draw.
  std::mt19937_64 random(static_cast<std::uint64_t>(thread) * 7919 + 17);
  std::uniform_int_distribution<std::int64_t> user(0, loop.user_range - 1);
  char user_buffer[32];
  std::int64_t issued = 0;
  for (std::int64_t done = 0; done < loop.operations_per_thread;) {
    const std::int64_t batch =
        std::min<std::int64_t>(loop.pipeline, loop.operations_per_thread - done);
    for (std::int64_t entry = 0; entry < batch; ++entry) {
      const int length = std::snprintf(user_buffer, sizeof(user_buffer), "user:%lld",
                                       static_cast<long long>(user(random)));
      pointers[loop.user_argument] = user_buffer;
      lengths[loop.user_argument] = static_cast<std::size_t>(length);
      // hiredis copies the arguments into its output buffer here.
      if (redisAppendCommandArgv(context.get(), static_cast<int>(pointers.size()), pointers.data(),
                                 lengths.data()) != REDIS_OK) {
        throw std::runtime_error(std::string("hiredis append: ") + context->errstr);
      }
    }
    for (std::int64_t entry = 0; entry < batch; ++entry) {
      void* raw = nullptr;
      if (redisGetReply(context.get(), &raw) != REDIS_OK || raw == nullptr) {
        throw std::runtime_error(std::string("hiredis read: ") + context->errstr);
      }
      auto* reply = static_cast<redisReply*>(raw);
      if (reply->type == REDIS_REPLY_ERROR) {
        const std::string message(reply->str, reply->len);
        freeReplyObject(reply);
        throw std::runtime_error("hiredis loop: " + message);
      }
      if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
          reply->element[0]->type == REDIS_REPLY_STRING &&
          std::strncmp(reply->element[0]->str, "issued", reply->element[0]->len) == 0 &&
          reply->element[0]->len == 6) {
        ++issued;
      }
      freeReplyObject(reply);
    }
    done += batch;
  }
  return issued;
}

}  // namespace

RawHiredisResult run_raw_hiredis_loop(const RawHiredisLoop& loop) {
  std::atomic<std::int64_t> issued{0};
  std::atomic<std::uint64_t> allocations{0};
  std::mutex failure_mutex;
  std::exception_ptr failure;
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int thread = 0; thread < loop.threads; ++thread) {
    threads.emplace_back([&, thread] {
      try {
        const std::uint64_t before = thread_allocations();
        issued += run_one_thread(loop, thread);
        allocations += thread_allocations() - before;
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failure_mutex);
        failure = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  if (failure) {
    std::rethrow_exception(failure);
  }
  RawHiredisResult result;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  result.calls = loop.operations_per_thread * loop.threads;
  result.issued = issued.load();
  result.allocations = allocations.load();
  return result;
}

}  // namespace bench
