// Ctrl-C for long C++ loops that run without the GIL on the calling thread (model.fit): the loop
// polls a function that, now and then, takes the GIL and runs Python's signal handlers. A
// handler that raises (KeyboardInterrupt) stops the loop; the exception is raised once the call
// returns.
#pragma once

#include <pybind11/pybind11.h>

#include <functional>
#include <memory>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bindings.h"

namespace mlcore::python {

class SignalPoll {
 public:
  // For the C++ loop: OK, or Cancelled once a signal handler raised (and from then on). Takes
  // the GIL at most every `period`. Python runs signal handlers on the main thread only, so
  // polls from other threads find nothing.
  std::function<Status()> Poller(absl::Duration period = absl::Milliseconds(100)) {
    return [state = state_, period]() -> Status {
      if (state->raised) return absl::CancelledError("interrupted (KeyboardInterrupt)");
      const absl::Time now = absl::Now();
      if (now < state->next) return absl::OkStatus();
      state->next = now + period;
      py::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() == 0) return absl::OkStatus();
      state->error = std::make_unique<py::error_already_set>();
      state->raised = true;
      return absl::CancelledError("interrupted (KeyboardInterrupt)");
    };
  }

  // With the GIL, after the call: raises what a signal handler raised, if one did (during the
  // call, or pending now: Ctrl-C caught by a Python callback inside the call is left pending).
  void RaiseIfInterrupted() {
    if (state_->error) {
      std::unique_ptr<py::error_already_set> e = std::move(state_->error);
      throw py::error_already_set(*e);
    }
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
  }

 private:
  struct State {
    bool raised = false;  // the poller runs on the calling thread only
    absl::Time next = absl::InfinitePast();
    std::unique_ptr<py::error_already_set> error;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace mlcore::python
