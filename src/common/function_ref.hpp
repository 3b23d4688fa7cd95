// A non-owning reference to a callable: what a std::function parameter
// would be without the heap allocation a capturing lambda can cost. Private
// to the library.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace flashsale::detail {

template <typename Signature>
class FunctionRef;

// Refers to the callable it was built from, which must outlive every call
// through it: pass it down a call, never store it.
template <typename Result, typename... Arguments>
class FunctionRef<Result(Arguments...)> {
 public:
  template <typename Callable,
            typename = std::enable_if_t<!std::is_same_v<std::decay_t<Callable>, FunctionRef>>>
  FunctionRef(Callable&& callable) noexcept  // NOLINT: implicit, as std::function
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(callable)))),
        call_([](void* object, Arguments... arguments) -> Result {
          return (*static_cast<std::remove_reference_t<Callable>*>(object))(
              std::forward<Arguments>(arguments)...);
        }) {}

  Result operator()(Arguments... arguments) const {
    return call_(object_, std::forward<Arguments>(arguments)...);
  }

 private:
  void* object_;
  Result (*call_)(void*, Arguments...);
};

}  // namespace flashsale::detail
