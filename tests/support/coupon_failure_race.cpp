#include "coupon_failure_race.hpp"

#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "failure_injection.hpp"
#include "flashsale/coupon_issuer.hpp"
#include "flashsale/durability.hpp"
#include "flashsale/error.hpp"

namespace flashsale::testing {

namespace {

std::string user_name(int user) {
  return "user-" + std::to_string(user);
}

// The sequence of an issue_coupon reply ({word, sequence, remaining,
// epoch}) that says issued / already_issued; -1 for anything else.
std::int64_t issued_sequence(const std::vector<Reply>& replies) {
  try {
    const auto& fields = replies.at(0).as_array();
    const std::string& word = fields.at(0).as_string();
    return word == "issued" || word == "already_issued" ? fields.at(1).as_integer() : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

CouponFailureRaceOutcome run_coupon_failure_race(
    Client& client, const CouponFailureRaceOptions& options,
    const std::function<void(const std::atomic<int>& answered)>& failure) {
  FirstComeCouponIssuer issuer(client);
  CouponTemplate coupon;
  coupon.id = options.coupon;
  coupon.total = options.units;
  // The server's clock (TIME: seconds, microseconds), the one the scripts use.
  const Reply time = client.execute({{"TIME"}, {}, {}});
  const auto now = std::chrono::system_clock::time_point(
      std::chrono::seconds(time.as_array().at(0).as_integer()) +
      std::chrono::microseconds(time.as_array().at(1).as_integer()));
  coupon.opens_at = now - std::chrono::hours(1);
  coupon.closes_at = now + std::chrono::hours(24);
  if (issuer.register_template(coupon).status != RegisterStatus::Created) {
    throw std::runtime_error("coupon " + options.coupon + " exists already");
  }
  if (options.registered) {
    options.registered();
  }

  CouponFailureRaceOutcome outcome;
  std::vector<IssueResult> answers(static_cast<std::size_t>(options.users));
  // The sequence of each user's first DurabilityError that said issued (-1: none).
  std::vector<std::int64_t> durability_sequences(static_cast<std::size_t>(options.users), -1);
  std::atomic<int> next_user{0};
  std::atomic<int> answered{0};
  std::atomic<int> retried{0};
  std::atomic<int> durability_errors{0};
  std::mutex errors_mutex;
  std::vector<std::thread> callers;
  for (int thread = 0; thread < options.threads; ++thread) {
    callers.emplace_back([&] {
      for (int user = next_user++; user < options.users; user = next_user++) {
        for (int attempt = 1;; ++attempt) {
          try {
            answers[static_cast<std::size_t>(user)] = issuer.issue(coupon.id, user_name(user));
            ++answered;
            break;
          } catch (const DurabilityError& error) {
            ++durability_errors;
            auto& first = durability_sequences[static_cast<std::size_t>(user)];
            if (first == -1) {
              first = issued_sequence(error.replies());
            }
          } catch (const ConnectionError&) {
          } catch (const Error& error) {
            const std::lock_guard<std::mutex> lock(errors_mutex);
            outcome.errors.emplace_back(error.what());
            break;
          }
          if (attempt == options.max_attempts) {
            const std::lock_guard<std::mutex> lock(errors_mutex);
            outcome.errors.emplace_back("gave up on " + user_name(user));
            break;
          }
          ++retried;
          std::this_thread::sleep_for(options.retry_pause);
        }
      }
    });
  }
  outcome.answered_after_failure =
      inject_failure_and_join(callers, next_user, options.users, answered, failure);
  outcome.retried = retried.load();
  outcome.durability_errors = durability_errors.load();

  const std::string issued_key = "fs:coupon:{" + coupon.id + "}:issued";
  const std::string stock_key = "fs:coupon:{" + coupon.id + "}:stock";
  const auto holders = client.execute({{"HGETALL", issued_key}, issued_key, {}}).as_array();
  std::map<std::string, std::int64_t> held;
  std::set<std::int64_t> sequences;
  for (std::size_t index = 0; index + 1 < holders.size(); index += 2) {
    const std::int64_t sequence = holders[index + 1].as_integer();
    held[holders[index].as_string()] = sequence;
    outcome.whole = outcome.whole && sequences.insert(sequence).second;
  }
  const Reply stock = client.execute({{"GET", stock_key}, stock_key, {}});
  outcome.held_units = static_cast<std::int64_t>(held.size());
  outcome.stock_left = stock.is_nil() ? 0 : stock.as_integer();
  outcome.whole = outcome.whole && outcome.held_units + outcome.stock_left == options.units;
  std::set<std::int64_t> told_sequences;
  for (int user = 0; user < options.users; ++user) {
    const auto& answer = answers[static_cast<std::size_t>(user)];
    const auto at = held.find(user_name(user));
    if (answer.status == IssueStatus::Issued || answer.status == IssueStatus::AlreadyIssued) {
      ++outcome.told;
      outcome.lost += at == held.end() || at->second != answer.sequence ? 1 : 0;
      outcome.told_twice += told_sequences.insert(answer.sequence).second ? 0 : 1;
    }
    const std::int64_t acknowledged = durability_sequences[static_cast<std::size_t>(user)];
    if (acknowledged != -1) {
      ++outcome.durability_acknowledged;
      outcome.durability_acknowledged_lost +=
          at == held.end() || at->second != acknowledged ? 1 : 0;
    }
  }
  return outcome;
}

}  // namespace flashsale::testing
