// Where a tensor's memory lives: the host, or one CUDA device by index.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mlcore/core/status.h"

namespace mlcore {

enum class DeviceType : uint8_t { kCPU, kCUDA };

struct Device {
  DeviceType type = DeviceType::kCPU;
  int index = 0;

  static Device CPU() { return Device{}; }
  static Device CUDA(int index = 0) { return Device{DeviceType::kCUDA, index}; }
  bool is_cpu() const { return type == DeviceType::kCPU; }
  bool is_cuda() const { return type == DeviceType::kCUDA; }
  // "cpu" or "cuda:N".
  std::string ToString() const;
  friend bool operator==(const Device&, const Device&) = default;
};

// Parses "cpu", "cuda" (device 0) and "cuda:N". Anything else is InvalidArgument naming it.
StatusOr<Device> ParseDevice(std::string_view text);

}  // namespace mlcore
