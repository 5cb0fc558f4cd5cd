// InitFromEnv: the environment reader joined to the communicator's rendezvous.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>

#include "mlcore/dist/env.h"

namespace mlcore::dist {

StatusOr<ProcessGroup> InitFromEnv(const InitFromEnvOptions& options) {
  MLCORE_ASSIGN_OR_RETURN(DistEnv env, ParseDistEnv(ProcessEnv()));
  ::setenv("MLCORE_NUM_THREADS", std::to_string(env.num_threads).c_str(), /*overwrite=*/0);
  InitOptions init;
  init.backend = options.backend;
  init.rank = env.rank;
  init.world_size = env.world_size;
  init.timeout = options.timeout;
  if (env.distributed()) {
    init.init_method = env.init_method();
  } else {
    // A group of one still gets a communicator (its collectives are copies), over a private
    // file store in the temporary directory that nothing else opens (the store lives as long
    // as the communicator, so the file stays: a few bytes per process).
    static std::atomic<int> serial{0};
    const std::filesystem::path single =
        std::filesystem::temp_directory_path() /
        ("mlcore-single-" + std::to_string(::getpid()) + "-" + std::to_string(serial++));
    init.init_method = "file://" + single.string();
  }
  MLCORE_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> comm, InitProcessGroup(init));
  return ProcessGroup{std::move(env), std::shared_ptr<Communicator>(std::move(comm))};
}

}  // namespace mlcore::dist
