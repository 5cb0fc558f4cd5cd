// Shared by the fuzz targets: a scratch directory per process for parsers that read files.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

namespace mlcore::fuzz {

inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    std::string pattern = "/tmp/mlcore_fuzz_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) ::abort();
    return pattern;
  }();
  return dir;
}

// Writes the input to `name` inside the scratch directory and returns its path.
inline std::string WriteInput(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = ScratchDir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace mlcore::fuzz
