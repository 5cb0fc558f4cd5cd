// GradientSync is the one point between a training step's backward pass and its optimizer step
// where gradients may be combined with other copies of the model (a data-parallel reducer) and
// where the step's "skip or not" decision is agreed. Fit, Model::TrainStep (Python's
// train_on_batch) and custom loops all pass through it, in this order per step:
//
//   backward:  OnGradientReady(p) once per trainable parameter, as soon as p.grad is final
//              (reverse layer order; a shared layer or a tied table after its last use), so a
//              reducer can start reducing while earlier layers are still differentiated;
//   then:      Finish(step) once, before anything reads the gradients: wait for the
//              reductions, and turn the local decision in `step` into the agreed one;
//   then:      clipping and the optimizer step, or nothing when `step.non_finite` came back set.
//
// A custom loop does the same by hand:
//
//   MLCORE_ASSIGN_OR_RETURN(TensorList out, model.ForwardAll(x, /*training=*/true));
//   ... loss and d(loss)/d(out) ...
//   MLCORE_RETURN_IF_ERROR(model.BackwardAll(grads));     // OnGradientReady per parameter
//   StepContext step{.loss = loss};
//   MLCORE_RETURN_IF_ERROR(model.FinishGradients(step));  // the sync's Finish
//   if (!step.non_finite) MLCORE_RETURN_IF_ERROR(optimizer.Step(model.parameters(), lr));
//
// The calls come from the thread that trains, with the model held for that step (no inference
// or other training runs on it meanwhile), so a sync needs no lock against the model.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "mlcore/core/status.h"
#include "mlcore/nn/parameter.h"

namespace mlcore::nn {

// One step as the sync's Finish sees it.
struct StepContext {
  // The optimizer's step count before this step (0 for the first; 0 without an optimizer).
  int64_t step = 0;
  // This rank's loss for the step (the weighted total over outputs).
  double loss = 0.0;
  // In: whether this rank's loss is NaN or infinite. Out: whether the step is non-finite for
  // the group, which a collective sync makes true on every rank when it is true on any, so all
  // ranks skip (NonFinitePolicy::kSkipStep) or all stop (kStop) together. A sync that leaves it
  // unchanged keeps the local decision.
  bool non_finite = false;
};

class GradientSync {
 public:
  virtual ~GradientSync() = default;

  // `param.grad` holds this step's final gradient (overwritten in place by the next backward).
  // The sync may start reducing it and may write the reduced values into `param.grad` now or in
  // Finish. A non-OK status aborts the step (Abort is called).
  virtual Status OnGradientReady(Parameter& param) = 0;

  // Called once per step after the backward pass (every parameter was reported) and before the
  // gradients are clipped and applied. On return every `grad` must hold the gradient to apply.
  // A non-OK status fails the step with nothing applied.
  virtual Status Finish(StepContext& step) = 0;

  // The step failed after backward began (a layer's error, OnGradientReady or Finish failing):
  // drop what is in flight. Peers of a collective sync should be made to fail rather than wait.
  virtual void Abort(const Status& why) {}
};

// A GradientSync that calls `hook` for each ready gradient and agrees with itself (Finish keeps
// the local decision): what Model::SetGradReadyHook installs.
std::shared_ptr<GradientSync> MakeGradReadySync(GradReadyHook hook);

}  // namespace mlcore::nn
