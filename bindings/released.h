// Calls into C++ that block (store writes, waits) run without the GIL; their values (py::object
// conversions) must be made with it held again. Released() does both in one call.
#pragma once

#include <pybind11/pybind11.h>

#include <type_traits>
#include <utility>

#include "bindings.h"

namespace mlcore::python {

// Runs `fn` (returning Status or StatusOr<T>) with the GIL released; raises its error, or
// returns its value, with the GIL held again.
template <typename Fn>
auto Released(Fn&& fn) {
  auto result = [&] {
    py::gil_scoped_release release;
    return std::forward<Fn>(fn)();
  }();
  if constexpr (std::is_same_v<decltype(result), Status>) {
    ThrowIfError(result);
  } else {
    return Unwrap(std::move(result));
  }
}

}  // namespace mlcore::python
