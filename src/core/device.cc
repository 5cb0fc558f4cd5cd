#include "mlcore/core/device.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "strings.h"

namespace mlcore {

std::string Device::ToString() const {
  return is_cpu() ? std::string("cpu") : absl::StrCat("cuda:", index);
}

StatusOr<Device> ParseDevice(std::string_view text) {
  if (text == "cpu") return Device::CPU();
  if (text == "cuda" || text == "gpu") return Device::CUDA(0);
  constexpr std::string_view kPrefix = "cuda:";
  if (text.substr(0, kPrefix.size()) == kPrefix) {
    std::string_view digits = text.substr(kPrefix.size());
    int index = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (ec == std::errc() && end == digits.data() + digits.size() && index >= 0) {
      return Device::CUDA(index);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown device '", internal::AV(text),
                                                 "': expected 'cpu', 'cuda' or 'cuda:N'"));
}

}  // namespace mlcore
