#include "dist/host_layout.h"

#include <unistd.h>

#include <fstream>
#include <map>

namespace mlcore::dist::internal {

std::string ResolveHostId(const std::string& host_id) {
  if (!host_id.empty()) return host_id;
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  std::string boot;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot;
  return std::string(name) + "/" + boot;
}

StatusOr<HostLayout> ExchangeHosts(Store& store, int rank, int world_size,
                                   const std::string& host_id, absl::Duration timeout) {
  MLCORE_RETURN_IF_ERROR(store.Set("host/" + std::to_string(rank), ResolveHostId(host_id)));
  std::vector<std::string> ids(world_size);
  for (int r = 0; r < world_size; ++r) {
    MLCORE_ASSIGN_OR_RETURN(ids[r], store.Get("host/" + std::to_string(r), timeout));
  }
  HostLayout layout;
  std::map<std::string, int> index;  // host id -> host index
  std::vector<int> sizes;
  for (int r = 0; r < world_size; ++r) {
    auto [it, added] = index.emplace(ids[r], static_cast<int>(sizes.size()));
    if (added) sizes.push_back(0);
    if (r == rank) layout.local_rank = sizes[it->second];
    ++sizes[it->second];
  }
  layout.num_hosts = static_cast<int>(sizes.size());
  layout.host_index = index[ids[rank]];
  layout.local_size = sizes[layout.host_index];
  for (int s : sizes) layout.max_local_size = std::max(layout.max_local_size, s);
  return layout;
}

}  // namespace mlcore::dist::internal
