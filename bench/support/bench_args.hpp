// The benches' one argument parser and one percentile helper.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

// Reads the flags a bench accepts: `--smoke` (tiny sizes for the CTest smoke
// run), switches such as `--no-pin` and options such as `--rounds 5`. The
// constructor removes --smoke from argv so Google Benchmark does not see it;
// everything else stays for benchmark::Initialize.
class BenchArgs {
 public:
  BenchArgs(int& argc, char** argv);

  bool smoke() const noexcept { return smoke_; }
  // Whether `--<name>` was given.
  bool flag(std::string_view name) const;
  // The value after `--<name>`, or `fallback`; at least `minimum`.
  long long number(std::string_view name, long long fallback, long long minimum = 1) const;
  std::string text(std::string_view name, std::string fallback) const;

 private:
  const char* value_of(std::string_view name) const;

  std::vector<std::string> arguments_;
  bool smoke_ = false;
};

// The q-quantile (0 <= q <= 1) of `values` by the nearest-rank-below rule
// (index floor(q x (n - 1)) of the sorted values); 0 when empty. q = 0.5 is
// the median, 1 the maximum.
template <typename T>
T percentile(std::vector<T> values, double q) {
  if (values.empty()) {
    return T{};
  }
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1));
  return values[std::min(index, values.size() - 1)];
}

}  // namespace bench
