// DLPack in both directions, in both capsule kinds: legacy "dltensor" (DLPack < 1.0, what
// consumers that pass no max_version expect) and "dltensor_versioned" (DLPack 1.x, which adds a
// version and a read-only flag; numpy 2 marks arrays from legacy capsules read-only, so writes
// through np.from_dlpack(t) need the versioned kind).
#pragma once

#include <dlpack/dlpack.h>
#include <pybind11/pybind11.h>

#include "mlcore/core/tensor.h"

namespace mlcore::python {

namespace py = pybind11;

// A capsule exporting `t` (which it keeps alive): versioned when `versioned`, else legacy.
py::capsule ToDLPack(const Tensor& t, bool versioned);
// A zero-copy tensor from a capsule or any object with __dlpack__; consumes the capsule.
Tensor FromDLPack(py::object obj);
// (device_type, device_id) as __dlpack_device__ returns it.
py::tuple DLPackDevice(const Tensor& t);

}  // namespace mlcore::python
