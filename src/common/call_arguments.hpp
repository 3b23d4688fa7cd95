// Building a script call's keys and numeric arguments without a heap
// allocation per string: the views they give travel to the socket as they
// are (Client::run_script's ArgumentViews overload).
#pragma once

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "flashsale/key_space.hpp"

namespace flashsale::detail {

// The keys "<prefix>:<component>:{<id>}:<suffix>" of one call, for the
// suffixes the call uses, in one allocation. validate_key_id(id) first
// (InvalidArgument "<component> id ..."), as KeySpace::tagged does. Views stay
// valid while the object lives; not copyable.
template <std::size_t kCount>
class KeySet {
 public:
  KeySet(const KeySpace& key_space, std::string_view component, std::string_view id,
         const std::array<std::string_view, kCount>& suffixes) {
    std::string what(component);
    what += " id";
    validate_key_id(id, what);
    const std::size_t tagged_size = key_space.prefix().size() + component.size() + id.size() + 4;
    std::size_t total = 0;
    for (const auto suffix : suffixes) {
      total += tagged_size + 1 + suffix.size();
    }
    buffer_.reserve(total);  // no reallocation below: the views stay put
    for (std::size_t index = 0; index < kCount; ++index) {
      const std::size_t start = buffer_.size();
      buffer_.append(key_space.prefix()).append(":").append(component).append(":{");
      buffer_.append(id).append("}:").append(suffixes[index]);
      keys_[index] = std::string_view(buffer_).substr(start);
    }
  }
  KeySet(const KeySet&) = delete;
  KeySet& operator=(const KeySet&) = delete;

  const std::array<std::string_view, kCount>& keys() const noexcept { return keys_; }
  std::string_view operator[](std::size_t index) const noexcept { return keys_[index]; }

 private:
  std::string buffer_;
  std::array<std::string_view, kCount> keys_{};
};

// An integer's decimal text in an inline buffer.
class Decimal {
 public:
  Decimal() = default;
  explicit Decimal(std::int64_t value) noexcept {
    size_ =
        static_cast<std::size_t>(std::to_chars(text_, text_ + sizeof(text_), value).ptr - text_);
  }
  std::string_view view() const noexcept { return {text_, size_}; }

 private:
  char text_[24] = {};  // 20 digits and a sign at most
  std::size_t size_ = 0;
};

}  // namespace flashsale::detail
