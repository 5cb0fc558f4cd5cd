// The elastic launch (LaunchOptions::min_nodes < nnodes; see launch.h): launchers meet in
// numbered rounds in a store at the rendezvous endpoint, each round fixing the members, their
// node ranks and the workers' master, and move to the next round together when membership
// changes. Keys, all under "elastic/<rdzv_id>/":
//
//   round                the current round number (decimal; only ever raised by CompareSet)
//   r<N>/joined          how many launchers joined round N (Add: a joiner's index is its rank)
//   r<N>/closed          the member count, set once by the round's first joiner
//   r<N>/master          "host:port" of rank 0's store, set by node rank 0
//
// A launcher that finds round N closed without it raises the round when N has room (the running
// members see that, stop their workers and join N + 1 with it), else waits for a later round.
// A launcher whose workers failed raises the round as well; one whose workers succeeded is done.
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "dist/launch_group.h"
#include "dist/socket_util.h"
#include "mlcore/dist/store.h"

namespace mlcore::dist::internal {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(100);

// The numeric addresses `host` resolves to.
std::set<std::string> Resolve(const std::string& host) {
  std::set<std::string> out;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &list) != 0) return out;
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    char text[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof(text), nullptr, 0, NI_NUMERICHOST) ==
        0) {
      out.insert(text);
    }
  }
  freeaddrinfo(list);
  return out;
}

// Whether `host` names this machine: a loopback address, this host's name, or an address of one
// of its interfaces. That launcher hosts the store (as torchrun's c10d rendezvous decides).
bool IsThisHost(const std::string& host) {
  if (IsLoopbackHost(host)) return true;
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) == 0 && host == name) return true;
  const std::set<std::string> wanted = Resolve(host);
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return false;
  bool found = false;
  for (ifaddrs* i = ifs; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    const int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    char text[NI_MAXHOST];
    const socklen_t len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (getnameinfo(i->ifa_addr, len, text, sizeof(text), nullptr, 0, NI_NUMERICHOST) == 0) {
      found = wanted.count(text) > 0;
    }
  }
  freeifaddrs(ifs);
  return found;
}

StatusOr<std::pair<std::string, int>> SplitEndpoint(const std::string& endpoint) {
  const size_t colon = endpoint.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(endpoint.substr(colon + 1), &port) || port <= 0 || port > 65535) {
    return absl::InvalidArgumentError("launch: rdzv_endpoint '" + endpoint + "' is not host:port");
  }
  return std::make_pair(endpoint.substr(0, colon), port);
}

// The launcher on the endpoint's host serves the store (a second launcher on that host finds
// the port taken and connects like the others).
StatusOr<std::shared_ptr<Store>> OpenRendezvousStore(const LaunchOptions& o,
                                                     const std::string& host, int port) {
  TcpStoreOptions so;
  so.host = host;
  so.port = port;
  so.timeout = o.rdzv_timeout;
  if (IsThisHost(host)) {
    so.is_server = true;
    so.bind_address = IsLoopbackHost(host) ? host : "";
    auto served = TcpStore::Open(so);
    if (served.ok()) return std::shared_ptr<Store>(*std::move(served));
    if (served.status().code() != absl::StatusCode::kUnavailable) return served.status();
    so.is_server = false;
  }
  MLCORE_ASSIGN_OR_RETURN(auto client, TcpStore::Open(so));
  return std::shared_ptr<Store>(std::move(client));
}

struct Round {
  int64_t number = 0;
  int node_rank = 0;
  int nodes = 0;
  std::string master_addr;
  int master_port = 0;
};

class Rendezvous {
 public:
  Rendezvous(std::shared_ptr<Store> store, const LaunchOptions& o, std::string local_addr)
      : store_(std::move(store)),
        o_(o),
        prefix_("elastic/" + o.rdzv_id + "/"),
        local_addr_(std::move(local_addr)) {}

  StatusOr<int64_t> Current() {
    MLCORE_ASSIGN_OR_RETURN(std::string v, store_->CompareSet(prefix_ + "round", "", "0"));
    int64_t n = 0;
    if (!absl::SimpleAtoi(v, &n)) return absl::InternalError("rendezvous: bad round '" + v + "'");
    return n;
  }

  // Moves everyone on from `round` (a no-op when someone already did).
  Status Raise(int64_t round) {
    return store_->CompareSet(prefix_ + "round", std::to_string(round), std::to_string(round + 1))
        .status();
  }

  // Joins the current round (or a later one) and returns it once it is closed with this
  // launcher among its members.
  StatusOr<Round> Join() {
    const absl::Time deadline = absl::Now() + o_.rdzv_timeout;
    while (absl::Now() < deadline) {
      MLCORE_ASSIGN_OR_RETURN(int64_t round, Current());
      const std::string r = prefix_ + "r" + std::to_string(round) + "/";
      MLCORE_ASSIGN_OR_RETURN(std::vector<bool> closed, store_->Check({r + "closed"}));
      int members = 0;
      int index = -1;
      if (!closed[0]) {
        MLCORE_ASSIGN_OR_RETURN(int64_t joined, store_->Add(r + "joined", 1));
        index = static_cast<int>(joined - 1);
        if (index == 0) MLCORE_RETURN_IF_ERROR(CloseWhenReady(r, deadline));
      }
      MLCORE_ASSIGN_OR_RETURN(std::string count, store_->Get(r + "closed", deadline - absl::Now()));
      if (!absl::SimpleAtoi(count, &members)) return absl::InternalError("rendezvous: bad count");
      if (index >= 0 && index < members) return Members(round, r, index, members);
      // Late for this round: raise it when it has room for this node, else wait for a change.
      if (members < o_.nnodes) {
        MLCORE_RETURN_IF_ERROR(Raise(round));
      } else {
        while (absl::Now() < deadline) {
          MLCORE_ASSIGN_OR_RETURN(int64_t now, Current());
          if (now != round) break;
          absl::SleepFor(kPoll);
        }
      }
    }
    return absl::DeadlineExceededError(
        absl::StrCat("launch: no rendezvous round with this node formed within ",
                     absl::FormatDuration(o_.rdzv_timeout), " (min_nodes ", o_.min_nodes, ")"));
  }

 private:
  // The first joiner closes the round: at nnodes members at once, else rdzv_last_call after
  // min_nodes were there.
  Status CloseWhenReady(const std::string& r, absl::Time deadline) {
    absl::Time last_call = absl::InfiniteFuture();
    int64_t joined = 0;
    while (true) {
      MLCORE_ASSIGN_OR_RETURN(joined, store_->Add(r + "joined", 0));
      if (joined >= o_.nnodes) break;
      if (joined >= o_.min_nodes && last_call == absl::InfiniteFuture()) {
        last_call = absl::Now() + o_.rdzv_last_call;
      }
      if (absl::Now() >= last_call) break;
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat("launch: only ", joined, " of at least ",
                                                        o_.min_nodes, " nodes joined within ",
                                                        absl::FormatDuration(o_.rdzv_timeout)));
      }
      absl::SleepFor(kPoll);
    }
    const int64_t members = std::min<int64_t>(joined, o_.nnodes);
    return store_->Set(r + "closed", std::to_string(members));
  }

  StatusOr<Round> Members(int64_t round, const std::string& r, int index, int members) {
    Round out{round, index, members, "", 0};
    if (index == 0) {
      MLCORE_ASSIGN_OR_RETURN(out.master_port, PickFreePort());
      out.master_addr = local_addr_;
      MLCORE_RETURN_IF_ERROR(
          store_->Set(r + "master", out.master_addr + ":" + std::to_string(out.master_port)));
      return out;
    }
    MLCORE_ASSIGN_OR_RETURN(std::string master, store_->Get(r + "master", o_.rdzv_timeout));
    MLCORE_ASSIGN_OR_RETURN(auto hp, SplitEndpoint(master));
    out.master_addr = hp.first;
    out.master_port = hp.second;
    return out;
  }

  std::shared_ptr<Store> store_;
  const LaunchOptions& o_;
  std::string prefix_;
  std::string local_addr_;
};

// Sets `stop` when the round moves past `round` or the user cancels; ends with `done`.
void WatchRound(Rendezvous& rdzv, int64_t round, const std::atomic<bool>* cancel,
                std::atomic<bool>& changed, std::atomic<bool>& stop, std::atomic<bool>& done) {
  while (!done) {
    if (cancel != nullptr && cancel->load()) stop = true;
    auto now = rdzv.Current();
    if (now.ok() && *now != round) {
      changed = true;
      stop = true;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
}

std::string LocalAddress(const LaunchOptions& o, const std::string& rdzv_host) {
  if (!o.local_addr.empty()) return o.local_addr;
  if (IsLoopbackHost(rdzv_host)) return "127.0.0.1";
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) == 0 && name[0] != '\0') return name;
  return "127.0.0.1";
}

}  // namespace

StatusOr<LaunchResult> ElasticLaunch(const LaunchOptions& options) {
  const std::string endpoint = options.rdzv_endpoint.empty()
                                   ? options.master_addr + ":" + std::to_string(options.master_port)
                                   : options.rdzv_endpoint;
  MLCORE_ASSIGN_OR_RETURN(auto hp, SplitEndpoint(endpoint));
  MLCORE_ASSIGN_OR_RETURN(auto store, OpenRendezvousStore(options, hp.first, hp.second));
  Rendezvous rdzv(store, options, LocalAddress(options, hp.first));
  LaunchResult result;
  result.rounds = 0;
  int failures = 0;
  while (true) {
    MLCORE_ASSIGN_OR_RETURN(Round round, rdzv.Join());
    ++result.rounds;
    Note(absl::StrCat("round ", round.number, ": node ", round.node_rank, " of ", round.nodes,
                      ", world size ", round.nodes * options.nproc_per_node));
    LaunchOptions o = options;
    o.nnodes = round.nodes;
    o.node_rank = round.node_rank;
    o.master_addr = round.master_addr;
    o.env["TORCHELASTIC_RUN_ID"] = options.rdzv_id;
    o.env["MLCORE_ELASTIC_ROUND"] = std::to_string(round.number);
    std::atomic<bool> changed{false}, stop{false}, done{false};
    o.cancel_flag = &stop;
    std::thread watcher(
        [&] { WatchRound(rdzv, round.number, options.cancel_flag, changed, stop, done); });
    Attempt a = RunGroup(o, round.master_port, failures);
    done = true;
    watcher.join();
    if (a.start_error) return *a.start_error;
    result.master_port = round.master_port;
    result.world_size = round.nodes * options.nproc_per_node;
    result.restarts = failures;
    result.failed_rank = a.failed_rank;
    result.failure = std::move(a.failure);
    result.cancelled = a.cancelled && !changed;
    result.ok = !a.cancelled && a.failed_rank < 0;
    if (result.ok || result.cancelled) return result;
    if (a.failed_rank >= 0 && !changed) {
      if (failures >= options.max_restarts) return result;
      ++failures;
      Note(absl::StrCat(result.Describe(), "; restarting with a new rendezvous round (", failures,
                        " of ", options.max_restarts, ")"));
    } else {
      Note(absl::StrCat("the membership changed after round ", round.number,
                        "; joining the next round"));
    }
    MLCORE_RETURN_IF_ERROR(rdzv.Raise(round.number));
  }
}

}  // namespace mlcore::dist::internal
