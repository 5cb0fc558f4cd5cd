#include "dist/shm_group.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>

namespace mlcore::dist::internal {

struct ShmGroup::Header {
  uint64_t token;
  alignas(64) std::atomic<uint32_t> arrived;
  alignas(64) std::atomic<uint32_t> generation;  // the futex word
  std::atomic<uint32_t> sleepers;
};

namespace {

constexpr size_t kHeaderBytes = 4096;
// Spins before sleeping: a few microseconds, the time a peer on another core needs to arrive.
constexpr int kSpins = 256;
constexpr int kYields = 64;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

ShmGroup::ShmGroup(int rank, int world_size, size_t slot_bytes, void* base, size_t size)
    : rank_(rank),
      world_size_(world_size),
      slot_bytes_(slot_bytes),
      base_(static_cast<char*>(base)),
      size_(size),
      header_(reinterpret_cast<Header*>(base)) {}

ShmGroup::~ShmGroup() { munmap(base_, size_); }

StatusOr<std::unique_ptr<ShmGroup>> ShmGroup::Join(Store& store, int rank, int world_size,
                                                   absl::Duration timeout, size_t slot_bytes) {
  size_t size = kHeaderBytes + 2 * (world_size + 1) * slot_bytes;
  std::string name;
  uint64_t token = 0;
  int fd = -1;
  std::string failure;
  if (rank == 0) {
    std::random_device random;
    token = (uint64_t{random()} << 32) | random();
    name = "/mlcore-" + std::to_string(getpid()) + "-" + std::to_string(token % 1000000007);
    fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) failure = Errno("shm_open");
    MLCORE_RETURN_IF_ERROR(store.Set("shm/name", name + " " + std::to_string(token)));
  } else {
    MLCORE_ASSIGN_OR_RETURN(std::string posted, store.Get("shm/name", timeout));
    size_t space = posted.find(' ');
    name = posted.substr(0, space);
    token = std::stoull(posted.substr(space + 1));
    fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) failure = Errno("shm_open " + name);
  }
  void* base = MAP_FAILED;
  if (failure.empty()) {
    base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (base == MAP_FAILED) failure = Errno("mmap");
  }
  if (fd >= 0) close(fd);
  auto* header = static_cast<Header*>(base);
  if (failure.empty() && rank == 0) header->token = token;
  // The token is written before the key below, so a rank that maps another host's namesake
  // segment (same name on another machine) sees a different token.
  MLCORE_RETURN_IF_ERROR(store.Set("shm/ok/" + std::to_string(rank), failure.empty() ? "1" : "0"));
  std::vector<std::string> keys;
  for (int r = 0; r < world_size; ++r) keys.push_back("shm/ok/" + std::to_string(r));
  MLCORE_RETURN_IF_ERROR(store.Wait(keys, timeout));
  bool everyone = true;
  for (const std::string& key : keys) {
    MLCORE_ASSIGN_OR_RETURN(std::string ok, store.Get(key, timeout));
    everyone = everyone && ok == "1";
  }
  if (everyone && header->token != token) everyone = false;
  // Every rank has mapped (or failed to map) it: the name can go, the memory stays until unmapped,
  // and no process killed later leaks a segment.
  if (rank == 0 && !name.empty()) shm_unlink(name.c_str());
  if (!everyone) {
    if (base != MAP_FAILED) munmap(base, size);
    return std::unique_ptr<ShmGroup>();
  }
  return std::unique_ptr<ShmGroup>(new ShmGroup(rank, world_size, slot_bytes, base, size));
}

char* ShmGroup::Slot(int set, int rank) const {
  return base_ + kHeaderBytes + (static_cast<size_t>(set) * (world_size_ + 1) + rank) * slot_bytes_;
}

Status ShmGroup::Wait(absl::Time deadline) {
  Header& h = *header_;
  uint32_t generation = h.generation.load(std::memory_order_acquire);
  if (h.arrived.fetch_add(1, std::memory_order_acq_rel) == static_cast<uint32_t>(world_size_ - 1)) {
    h.arrived.store(0, std::memory_order_relaxed);
    h.generation.fetch_add(1, std::memory_order_acq_rel);
    if (h.sleepers.load(std::memory_order_acquire) > 0) {
      Futex(&h.generation, FUTEX_WAKE, INT32_MAX, nullptr);
    }
    return absl::OkStatus();
  }
  for (int i = 0; i < kSpins; ++i) {
    if (h.generation.load(std::memory_order_acquire) != generation) return absl::OkStatus();
    CpuRelax();
  }
  // Then yield: on a machine with more ranks than free cores the rank we wait for may need
  // this core to arrive.
  for (int i = 0; i < kYields; ++i) {
    if (h.generation.load(std::memory_order_acquire) != generation) return absl::OkStatus();
    sched_yield();
  }
  while (h.generation.load(std::memory_order_acquire) == generation) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("shared-memory barrier: not every rank arrived");
    }
    timespec ts = absl::ToTimespec(std::min(left, absl::Milliseconds(100)));
    h.sleepers.fetch_add(1, std::memory_order_acq_rel);
    Futex(&h.generation, FUTEX_WAIT, generation, &ts);
    h.sleepers.fetch_sub(1, std::memory_order_acq_rel);
  }
  return absl::OkStatus();
}

void ShmGroup::ReduceSlots(int set, size_t offset, int64_t n, size_t esize, ReduceFn fn,
                           char* out) const {
  if (n <= 0) return;
  if (world_size_ == 1) {
    std::memcpy(out, Slot(set, 0) + offset, n * esize);
    return;
  }
  fn(out, Slot(set, 0) + offset, Slot(set, 1) + offset, n);
  for (int k = 2; k < world_size_; ++k) fn(out, out, Slot(set, k) + offset, n);
}

Status ShmGroup::AllReduce(void* data, int64_t n, size_t esize, ReduceFn fn,
                           absl::Duration timeout) {
  return Reduce(data, n, esize, fn, -1, timeout);
}

// root -1: every rank copies the result out (allreduce). Each rank's own share of a chunk never
// goes through its slot: it is read from the caller's tensor where it lies, and (allreduce, or
// the root) the share's result is computed in that tensor or copied there once, so a rank moves
// (n - 1) / n of the chunk in and out instead of all of it. The reduction order is rank order,
// whichever rank computes a share, so results are bitwise those of ReduceSlots.
Status ShmGroup::Reduce(void* data, int64_t n, size_t esize, ReduceFn fn, int root,
                        absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  char* bytes = static_cast<char*>(data);
  const bool keep_result = root < 0 || root == rank_;
  int64_t chunk = static_cast<int64_t>(slot_bytes_ / esize);
  for (int64_t off = 0; off < n; off += chunk) {
    const int64_t c = std::min(chunk, n - off);
    const int set = NextSet();
    const int64_t lo = c * rank_ / world_size_;
    const int64_t hi = c * (rank_ + 1) / world_size_;
    char* base = bytes + off * esize;
    char* slot = Slot(set, rank_);
    char* result = Slot(set, world_size_);
    std::memcpy(slot, base, lo * esize);
    std::memcpy(slot + hi * esize, base + hi * esize, (c - hi) * esize);
    MLCORE_RETURN_IF_ERROR(Wait(deadline));
    if (hi > lo) {
      char* mine = base + lo * esize;
      auto source = [&](int k) -> const char* {
        return k == rank_ ? mine : Slot(set, k) + lo * esize;
      };
      const size_t len = (hi - lo) * esize;
      // Rank 0 reduces into its own tensor (it is the first operand); the others into the
      // result area, reading their own values from the tensor until the end.
      char* acc = keep_result && rank_ == 0 ? mine : result + lo * esize;
      if (world_size_ == 1) {
        if (acc != mine) std::memcpy(acc, mine, len);
      } else {
        fn(acc, source(0), source(1), hi - lo);
        for (int k = 2; k < world_size_; ++k) fn(acc, acc, source(k), hi - lo);
      }
      if (acc == mine) {
        std::memcpy(result + lo * esize, mine, len);
      } else if (keep_result) {
        std::memcpy(mine, acc, len);
      }
    }
    MLCORE_RETURN_IF_ERROR(Wait(deadline));
    if (keep_result) {
      std::memcpy(base, result, lo * esize);
      std::memcpy(base + hi * esize, result + hi * esize, (c - hi) * esize);
    }
  }
  return absl::OkStatus();
}

Status ShmGroup::Broadcast(void* data, size_t bytes, int root, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  char* p = static_cast<char*>(data);
  for (size_t off = 0; off < bytes; off += slot_bytes_) {
    size_t c = std::min(slot_bytes_, bytes - off);
    int set = NextSet();
    if (rank_ == root) std::memcpy(Slot(set, root), p + off, c);
    MLCORE_RETURN_IF_ERROR(Wait(deadline));
    if (rank_ != root) std::memcpy(p + off, Slot(set, root), c);
  }
  return absl::OkStatus();
}

Status ShmGroup::AllGather(const void* in, void* out, size_t bytes, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  const char* src = static_cast<const char*>(in);
  char* dst = static_cast<char*>(out);
  for (size_t off = 0; off < bytes; off += slot_bytes_) {
    size_t c = std::min(slot_bytes_, bytes - off);
    int set = NextSet();
    std::memcpy(Slot(set, rank_), src + off, c);
    MLCORE_RETURN_IF_ERROR(Wait(deadline));
    for (int k = 0; k < world_size_; ++k) std::memcpy(dst + k * bytes + off, Slot(set, k), c);
  }
  return absl::OkStatus();
}

Status ShmGroup::ReduceScatter(const void* in, void* out, int64_t n, size_t esize, ReduceFn fn,
                               absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  const char* src = static_cast<const char*>(in);
  char* dst = static_cast<char*>(out);
  int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(slot_bytes_ / esize / world_size_));
  for (int64_t off = 0; off < n; off += chunk) {
    int64_t c = std::min(chunk, n - off);
    int set = NextSet();
    for (int j = 0; j < world_size_; ++j) {
      std::memcpy(Slot(set, rank_) + j * c * esize, src + (j * n + off) * esize, c * esize);
    }
    MLCORE_RETURN_IF_ERROR(Wait(deadline));
    ReduceSlots(set, rank_ * c * esize, c, esize, fn, dst + off * esize);
  }
  return absl::OkStatus();
}

Status ShmGroup::AllToAll(const void* in, void* out, size_t block_bytes, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  const char* src = static_cast<const char*>(in);
  char* dst = static_cast<char*>(out);
  size_t chunk = std::max<size_t>(1, slot_bytes_ / world_size_);
  for (size_t off = 0; off < block_bytes; off += chunk) {
    size_t c = std::min(chunk, block_bytes - off);
    int set = NextSet();
    for (int j = 0; j < world_size_; ++j) {
      std::memcpy(Slot(set, rank_) + j * c, src + j * block_bytes + off, c);
    }
    MLCORE_RETURN_IF_ERROR(Wait(deadline));
    for (int k = 0; k < world_size_; ++k) {
      std::memcpy(dst + k * block_bytes + off, Slot(set, k) + rank_ * c, c);
    }
  }
  return absl::OkStatus();
}

Status ShmGroup::Barrier(absl::Duration timeout) { return Wait(absl::Now() + timeout); }

}  // namespace mlcore::dist::internal
