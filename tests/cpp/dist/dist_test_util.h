// Helpers for the dist tests: a group of ranks as threads of this process, each with its own
// real gloo communicator over a real tcp:// store on a free port of 127.0.0.1.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "mlcore/dist/communicator.h"
#include "mlcore/dist/store.h"

namespace mlcore::dist::testing {

struct RanksOptions {
  absl::Duration timeout = absl::Seconds(30);
  // Called on each rank's options before the group is created (same_host_shm, host_id, ...).
  std::function<void(int rank, InitOptions& options)> configure;
};

// A port that was free a moment ago: a server store bound to port 0, read back and closed, so
// that rank 0 can host the store on it again.
inline int FreeStorePort() {
  TcpStoreOptions options;
  options.is_server = true;
  options.bind_address = "127.0.0.1";
  auto probe = TcpStore::Open(options);
  EXPECT_TRUE(probe.ok()) << probe.status();
  return probe.ok() ? (*probe)->port() : 0;
}

// Starts `world` ranks on a fresh tcp:// store and runs body(comm) on each; returns when all
// have returned.
inline void RunRanks(int world, const std::function<void(std::shared_ptr<Communicator>)>& body,
                     const RanksOptions& ranks = {}) {
  const int port = FreeStorePort();
  ASSERT_NE(port, 0);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([=, &body] {
      InitOptions options;
      options.backend = "gloo";
      options.init_method = "tcp://127.0.0.1:" + std::to_string(port);
      options.rank = r;
      options.world_size = world;
      options.timeout = ranks.timeout;
      if (ranks.configure) ranks.configure(r, options);
      auto comm = InitProcessGroup(options);
      ASSERT_TRUE(comm.ok()) << comm.status();
      body(std::shared_ptr<Communicator>(*std::move(comm)));
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace mlcore::dist::testing
