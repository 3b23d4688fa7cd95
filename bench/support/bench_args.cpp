#include "bench_args.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>

namespace bench {

namespace {

bool names(std::string_view argument, std::string_view name) {
  return argument.size() == name.size() + 2 && argument.substr(0, 2) == "--" &&
         argument.substr(2) == name;
}

}  // namespace

BenchArgs::BenchArgs(int& argc, char** argv) {
  int kept = 1;
  for (int index = 1; index < argc; ++index) {
    if (std::string_view(argv[index]) == "--smoke") {
      smoke_ = true;
      continue;
    }
    arguments_.emplace_back(argv[index]);
    argv[kept++] = argv[index];
  }
  argc = kept;
}

bool BenchArgs::flag(std::string_view name) const {
  return std::any_of(arguments_.begin(), arguments_.end(),
                     [&](const std::string& argument) { return names(argument, name); });
}

const char* BenchArgs::value_of(std::string_view name) const {
  for (std::size_t index = 0; index + 1 < arguments_.size(); ++index) {
    if (names(arguments_[index], name)) {
      return arguments_[index + 1].c_str();
    }
  }
  return nullptr;
}

long long BenchArgs::number(std::string_view name, long long fallback, long long minimum) const {
  const char* value = value_of(name);
  return std::max(minimum, value ? std::atoll(value) : fallback);
}

std::string BenchArgs::text(std::string_view name, std::string fallback) const {
  const char* value = value_of(name);
  return value ? std::string(value) : std::move(fallback);
}

}  // namespace bench
