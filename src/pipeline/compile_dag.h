// The DAG half of CompileToKfp: components, DAG tasks and sub-DAGs (loops and task groups).
#pragma once

#include "mlcore/core/status.h"
#include "mlcore/pipeline/compiler.h"
#include "mlcore/pipeline/pipeline.h"

namespace mlcore::pipeline::internal {

// The PipelineSpec as JSON (see CompileToKfp).
StatusOr<Json> CompileDag(const Pipeline& pipeline, const CompileOptions& options);

}  // namespace mlcore::pipeline::internal
