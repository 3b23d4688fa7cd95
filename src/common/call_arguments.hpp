// Building a script call's keys and numeric arguments without a heap
// allocation per string: the views they give travel to the socket as they
// are (Client::run_script's ArgumentViews overload).
#pragma once

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flashsale/client.hpp"
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
    // "<prefix>:<component>:{<id>}:" once, then each key is that and a suffix.
    const std::string_view parts[] = {key_space.prefix(), ":", component, ":{", id, "}:"};
    std::size_t tag_size = 0;
    for (const auto part : parts) {
      tag_size += part.size();
    }
    std::size_t total = 0;
    for (const auto suffix : suffixes) {
      total += tag_size + suffix.size();
    }
    buffer_.resize(total);  // never resized again: the views stay put
    char* out = buffer_.data();
    const auto put = [&out](std::string_view text) {
      std::memcpy(out, text.data(), text.size());
      out += text.size();
    };
    for (const auto part : parts) {  // the tag: the start of the first key
      put(part);
    }
    const std::string_view tag(buffer_.data(), tag_size);
    const char* start = buffer_.data();  // the first key begins with the tag just written
    for (std::size_t index = 0; index < kCount; ++index) {
      if (index != 0) {
        start = out;
        put(tag);
      }
      put(suffixes[index]);
      keys_[index] = std::string_view(start, static_cast<std::size_t>(out - start));
    }
  }

  KeySet(const KeySet&) = delete;
  KeySet& operator=(const KeySet&) = delete;

  const std::array<std::string_view, kCount>& keys() const noexcept { return keys_; }
  std::string_view operator[](std::size_t index) const noexcept { return keys_[index]; }
  // The keys as a script call's KEYS (Client::run_script).
  ArgumentViews views() const noexcept { return {keys_.data(), kCount}; }
  // Owned copies, for require_single_slot.
  std::vector<std::string> strings() const { return {keys_.begin(), keys_.end()}; }

 private:
  std::string buffer_;
  std::array<std::string_view, kCount> keys_{};
};

// The KeySet of the last (prefix, id) this thread asked for at one call site
// (`Site`, a tag type per site): a hot coupon called again and again gets its
// keys built once per thread instead of once per call (about 950 client
// instructions of issue()'s 17k). Validates the id as KeySet does whenever
// it builds. The keys stay valid until this thread's next call at the same
// site, so use them within the call that asked.
template <typename Site, std::size_t kCount>
const KeySet<kCount>& thread_cached_keys(const KeySpace& key_space, std::string_view component,
                                         std::string_view id,
                                         const std::array<std::string_view, kCount>& suffixes) {
  struct Cache {
    std::string prefix;
    std::string id;
    std::unique_ptr<KeySet<kCount>> keys;
  };
  thread_local Cache cache;
  if (!cache.keys || cache.id != id || cache.prefix != key_space.prefix()) {
    cache.keys.reset();  // a refused id leaves the cache empty
    cache.keys = std::make_unique<KeySet<kCount>>(key_space, component, id, suffixes);
    cache.id.assign(id);
    cache.prefix.assign(key_space.prefix());
  }
  return *cache.keys;
}

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
