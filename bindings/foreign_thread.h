// Running Python on a C++ thread (a task's runner, a study worker) that may outlive the
// interpreter.
//
// While Py_Finalize runs, a thread that waits for the GIL (a time.sleep returning, a new
// acquire) is ended with pthread_exit, which unwinds its stack with abi::__forced_unwind. Two
// things on that path abort the whole process at exit: a catch (...) that does not rethrow
// ("FATAL: exception not rethrown"), and Python calls made while unwinding (the thread does not
// hold the GIL and never will; pybind11's gil_scoped_acquire clears and deletes its thread
// state in its destructor, a fatal error without the GIL). RunWithGil takes the GIL like
// PyGILState_Ensure and, when the thread is ended that way, leaves the interpreter alone and
// lets the unwind go on.
#pragma once

#include <Python.h>
#include <cxxabi.h>

#include <utility>

namespace mlcore::python {

// True once the interpreter is shutting down (or gone): taking the GIL now may end the thread.
inline bool InterpreterFinalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return !Py_IsInitialized() || Py_IsFinalizing();
#else
  return !Py_IsInitialized() || _Py_IsFinalizing();
#endif
}

// Calls `fn` holding the GIL, from any thread. Objects `fn` creates must not outlive it with
// destructors that touch Python (keep them inside `fn`, or release() them).
template <typename Fn>
decltype(auto) RunWithGil(Fn&& fn) {
  struct Gil {
    PyGILState_STATE state = PyGILState_Ensure();
    bool abandoned = false;
    ~Gil() {
      if (!abandoned) PyGILState_Release(state);
    }
  } gil;
  try {
    return std::forward<Fn>(fn)();
  } catch (abi::__forced_unwind&) {
    gil.abandoned = true;  // the thread ends without the GIL: touch nothing of Python
    throw;
  }
}

}  // namespace mlcore::python
