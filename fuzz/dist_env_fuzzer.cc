// The job environment a process is started with (torchrun, PyTorchJob, MPIJob variables and
// TFJob's TF_CONFIG JSON): the input is "NAME=VALUE" lines, or, when it starts with '{', the
// TF_CONFIG document itself. ParseDistEnv must return a DistEnv or a Status for every input.
#include <map>
#include <string>
#include <string_view>

#include "mlcore/dist/env.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> vars;
  if (!text.empty() && text.front() == '{') {
    vars["TF_CONFIG"] = std::string(text);
  } else {
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(start, end - start);
      const size_t eq = line.find('=');
      if (eq != std::string_view::npos) {
        vars[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
      }
      start = end + 1;
    }
  }
  auto env = mlcore::dist::ParseDistEnv(
      [&](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
      },
      8);
  if (env.ok()) (void)env->init_method();
  return 0;
}
