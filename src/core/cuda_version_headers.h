// The CUDA library headers whose version macros build_info reports and the loader's sonames
// are named by (the libraries themselves are dlopen'ed on first GPU use, never linked).
#pragma once

#include "mlcore/build_config.h"

#ifdef MLCORE_WITH_CUDA
#include <cublas_api.h>
#ifdef MLCORE_HAVE_CUDNN
#include <cudnn_version.h>
#endif
#ifdef MLCORE_HAVE_NCCL_HEADERS
#include <nccl.h>
#endif
#endif
