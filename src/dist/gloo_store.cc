#include "dist/gloo_store.h"

#include <gloo/common/error.h>

namespace mlcore::dist::internal {
namespace {

void ThrowIfError(const Status& status) {
  if (!status.ok()) throw ::gloo::IoException(std::string(status.message()));
}

}  // namespace

void GlooStore::set(const std::string& key, const std::vector<char>& data) {
  ThrowIfError(store_->Set(key, std::string_view(data.data(), data.size())));
}

std::vector<char> GlooStore::get(const std::string& key) {
  StatusOr<std::string> value = store_->Get(key, timeout_);
  ThrowIfError(value.status());
  return std::vector<char>(value->begin(), value->end());
}

void GlooStore::wait(const std::vector<std::string>& keys) {
  ThrowIfError(store_->Wait(keys, timeout_));
}

void GlooStore::wait(const std::vector<std::string>& keys,
                     const std::chrono::milliseconds& timeout) {
  ThrowIfError(store_->Wait(keys, absl::FromChrono(timeout)));
}

}  // namespace mlcore::dist::internal
