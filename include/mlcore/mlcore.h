// The whole public API of mlcore in one include. Each module's headers can also be included on
// their own: include/mlcore/<module>/.
#pragma once

#include "mlcore/core/allocator.h"
#include "mlcore/core/build_info.h"
#include "mlcore/core/cuda.h"
#include "mlcore/core/device.h"
#include "mlcore/core/dtype.h"
#include "mlcore/core/logging.h"
#include "mlcore/core/status.h"
#include "mlcore/core/tensor.h"
#include "mlcore/core/thread_pool.h"
#include "mlcore/ops/elementwise.h"
#include "mlcore/store/artifact_store.h"
#include "mlcore/store/metadata_store.h"
