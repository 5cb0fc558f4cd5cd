// The epoch count of the Fit running on this thread, for the callbacks it calls (ProgressLogger
// prints "epoch 3/10" without being told the 10). Callbacks run on the Fit's own thread.
#pragma once

namespace mlcore::nn::internal {

// initial_epoch + epochs of the innermost Fit on this thread; 0 outside one.
int CurrentFitEpochs();

class ScopedFitEpochs {
 public:
  explicit ScopedFitEpochs(int epochs);
  ~ScopedFitEpochs();
  ScopedFitEpochs(const ScopedFitEpochs&) = delete;
  ScopedFitEpochs& operator=(const ScopedFitEpochs&) = delete;

 private:
  int previous_;
};

}  // namespace mlcore::nn::internal
