// CUDA twins of src/ops/elementwise_cpu.cc. Every kernel is a grid-stride loop over 16-byte
// packs (one vector load per operand per step) with a scalar tail, falling back to one element
// per step when a view's offset leaves a pointer unaligned. The arithmetic matches the CPU twin
// operation for operation (no FMA contraction, 16-bit floats computed in float and rounded to
// nearest even), so fill, cast, add, mul and axpy agree with it bit for bit.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "ops/elementwise.h"

namespace mlcore::ops::cuda {
namespace {

constexpr int kThreads = 256;
// 8 blocks of 256 threads fill an SM of sm_80/sm_90 (2048 resident threads); more blocks than
// that only add scheduling, the grid-stride loop covers the rest.
constexpr int kBlocksPerSm = 8;
constexpr int kPackBytes = 16;

// Bools live in bytes; any nonzero byte is true, and kernels never read a byte through a bool.
struct BoolByte {
  uint8_t bits;
};

template <typename T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

template <typename T>
constexpr bool kIsHalf = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

__device__ inline float Widen(__half v) { return __half2float(v); }
__device__ inline float Widen(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ inline bool Widen(BoolByte v) { return v.bits != 0; }
template <typename T>
__device__ inline T Widen(T v) {
  return v;
}

template <typename To, typename From>
__device__ inline To Convert(From v) {
  auto x = Widen(v);
  using X = decltype(x);
  if constexpr (std::is_same_v<To, __half>) {
    return __float2half_rn(static_cast<float>(x));
  } else if constexpr (std::is_same_v<To, __nv_bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(x));
  } else if constexpr (std::is_same_v<To, BoolByte>) {
    return BoolByte{static_cast<uint8_t>(x != X(0))};
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<X>) {
    return SaturatingFloatToInt<To>(x);
  } else {
    return static_cast<To>(x);
  }
}

template <typename Out>
struct CastTo {
  template <typename In>
  __device__ Out operator()(In v) const {
    return Convert<Out>(v);
  }
};

// Integers wrap around in their unsigned twins, as on the CPU (no signed-overflow UB).
struct AddOp {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    if constexpr (kIsHalf<T>) {
      return Convert<T>(__fadd_rn(Widen(a), Widen(b)));
    } else if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
    } else {
      return a + b;
    }
  }
};

struct MulOp {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    if constexpr (kIsHalf<T>) {
      return Convert<T>(__fmul_rn(Widen(a), Widen(b)));
    } else if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
    } else {
      return a * b;
    }
  }
};

// y + alpha * x with an explicit multiply and add: nvcc would otherwise fuse them into an FMA,
// which rounds once where the CPU twin rounds twice.
struct AxpyOp {
  double alpha;
  __device__ double operator()(double y, double x) const {
    return __dadd_rn(y, __dmul_rn(alpha, x));
  }
  __device__ float operator()(float y, float x) const {
    return __fadd_rn(y, __fmul_rn(static_cast<float>(alpha), x));
  }
  template <typename T>
  requires kIsHalf<T> __device__ T operator()(T y, T x) const {
    return Convert<T>((*this)(Widen(y), Widen(x)));
  }
};

__device__ inline int64_t GlobalThread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t GridThreads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

template <int N, typename W>
__global__ void FillKernel(W* out, int64_t n, W value) {
  Pack<W, N> pack;
#pragma unroll
  for (int j = 0; j < N; ++j) pack.v[j] = value;
  auto* packs = reinterpret_cast<Pack<W, N>*>(out);
  const int64_t num_packs = n / N;
  for (int64_t i = GlobalThread(); i < num_packs; i += GridThreads()) packs[i] = pack;
  for (int64_t i = num_packs * N + GlobalThread(); i < n; i += GridThreads()) out[i] = value;
}

template <int N, typename Out, typename In, typename Op>
__global__ void Map1Kernel(Out* out, const In* x, int64_t n, Op op) {
  const auto* xp = reinterpret_cast<const Pack<In, N>*>(x);
  auto* op_out = reinterpret_cast<Pack<Out, N>*>(out);
  const int64_t num_packs = n / N;
  for (int64_t i = GlobalThread(); i < num_packs; i += GridThreads()) {
    const Pack<In, N> a = xp[i];
    Pack<Out, N> r;
#pragma unroll
    for (int j = 0; j < N; ++j) r.v[j] = op(a.v[j]);
    op_out[i] = r;
  }
  for (int64_t i = num_packs * N + GlobalThread(); i < n; i += GridThreads()) out[i] = op(x[i]);
}

template <int N, typename T, typename Op>
__global__ void Map2Kernel(T* out, const T* a, const T* b, int64_t n, Op op) {
  const auto* ap = reinterpret_cast<const Pack<T, N>*>(a);
  const auto* bp = reinterpret_cast<const Pack<T, N>*>(b);
  auto* outp = reinterpret_cast<Pack<T, N>*>(out);
  const int64_t num_packs = n / N;
  for (int64_t i = GlobalThread(); i < num_packs; i += GridThreads()) {
    const Pack<T, N> x = ap[i];
    const Pack<T, N> y = bp[i];
    Pack<T, N> r;
#pragma unroll
    for (int j = 0; j < N; ++j) r.v[j] = op(x.v[j], y.v[j]);
    outp[i] = r;
  }
  for (int64_t i = num_packs * N + GlobalThread(); i < n; i += GridThreads()) {
    out[i] = op(a[i], b[i]);
  }
}

// The value an element adds to a sum: double for floats, wrapping uint64 for integers.
template <typename Acc, typename T>
__device__ inline Acc Accumuland(T v) {
  if constexpr (std::is_same_v<Acc, double>) {
    return static_cast<double>(Widen(v));
  } else {
    return static_cast<Acc>(Widen(v));
  }
}

// Sum over the block, in a fixed order; the result is valid in thread 0.
template <typename Acc>
__device__ Acc BlockSum(Acc v) {
  __shared__ Acc warp_sums[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kThreads / 32 ? warp_sums[lane] : Acc(0);
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  }
  return v;
}

// Pass one: each block writes the sum of its grid-stride share to partials[blockIdx.x].
template <int N, typename Acc, typename T>
__global__ void __launch_bounds__(kThreads)
    SumPartialsKernel(const T* x, int64_t n, Acc* partials) {
  Acc acc = Acc(0);
  const auto* xp = reinterpret_cast<const Pack<T, N>*>(x);
  const int64_t num_packs = n / N;
  for (int64_t i = GlobalThread(); i < num_packs; i += GridThreads()) {
    const Pack<T, N> p = xp[i];
#pragma unroll
    for (int j = 0; j < N; ++j) acc += Accumuland<Acc>(p.v[j]);
  }
  for (int64_t i = num_packs * N + GlobalThread(); i < n; i += GridThreads()) {
    acc += Accumuland<Acc>(x[i]);
  }
  acc = BlockSum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// Pass two, one block: combines the partials in a fixed order (no atomics, so repeatable).
template <typename Acc, typename Out>
__global__ void __launch_bounds__(kThreads) SumFinalKernel(const Acc* partials, int num, Out* out) {
  Acc acc = Acc(0);
  for (int i = threadIdx.x; i < num; i += kThreads) acc += partials[i];
  acc = BlockSum(acc);
  if (threadIdx.x == 0) *out = static_cast<Out>(acc);
}

// Makes `index` the current device for the scope of an op and restores the caller's device.
class ScopedDevice {
 public:
  explicit ScopedDevice(int index) {
    cudaError_t err = cudaGetDevice(&previous_);
    if (err == cudaSuccess && previous_ != index) err = cudaSetDevice(index);
    if (err == cudaSuccess) {
      changed_ = previous_ != index;
    } else {
      error_ = err;
    }
  }
  ~ScopedDevice() {
    if (changed_) cudaSetDevice(previous_);
  }
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;
  cudaError_t error() const { return error_; }

 private:
  int previous_ = 0;
  bool changed_ = false;
  cudaError_t error_ = cudaSuccess;
};

Status CudaError(const char* op, cudaError_t err) {
  return absl::InternalError(
      absl::StrCat("ops::", op, " (CUDA): ", cudaGetErrorName(err), ": ", cudaGetErrorString(err)));
}

// Reports a failed launch (bad configuration, no kernel image for this GPU) of the kernels just
// queued. Faults during execution surface at the next synchronising call, as CUDA defines.
Status CheckLaunch(const char* op) {
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? absl::OkStatus() : CudaError(op, err);
}

StatusOr<int> GridSize(const char* op, int device, int64_t work_items, int blocks_per_sm) {
  int sms = 0;
  const cudaError_t err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return CudaError(op, err);
  const int64_t wanted = (work_items + kThreads - 1) / kThreads;
  return static_cast<int>(std::clamp<int64_t>(wanted, 1, int64_t{sms} * blocks_per_sm));
}

bool Aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % kPackBytes == 0; }

// The type kernels use for host type T: the CUDA half types for mlcore's, a byte for bool.
template <typename T>
struct DeviceTypeOf {
  using type = T;
};
template <>
struct DeviceTypeOf<bool> {
  using type = BoolByte;
};
template <>
struct DeviceTypeOf<float16> {
  using type = __half;
};
template <>
struct DeviceTypeOf<bfloat16> {
  using type = __nv_bfloat16;
};

// Calls fn(T{}) with T the type kernels use for `dtype` (core's VisitDType, mapped).
template <typename Fn>
decltype(auto) VisitDeviceType(DType dtype, Fn&& fn) {
  return VisitDType(dtype, [&](auto host) -> decltype(auto) {
    return fn(typename DeviceTypeOf<decltype(host)>::type{});
  });
}

template <typename Out, typename In, typename Op>
Status LaunchMap1(const char* name, int device, Out* out, const In* x, int64_t n, Op op) {
  constexpr int kVec = kPackBytes / static_cast<int>(std::max(sizeof(In), sizeof(Out)));
  const bool vectorised = Aligned(out) && Aligned(x);
  MLCORE_ASSIGN_OR_RETURN(int grid,
                          GridSize(name, device, vectorised ? n / kVec : n, kBlocksPerSm));
  if (vectorised) {
    Map1Kernel<kVec><<<grid, kThreads>>>(out, x, n, op);
  } else {
    Map1Kernel<1><<<grid, kThreads>>>(out, x, n, op);
  }
  return CheckLaunch(name);
}

template <typename T, typename Op>
Status LaunchMap2(const char* name, int device, T* out, const T* a, const T* b, int64_t n, Op op) {
  constexpr int kVec = kPackBytes / static_cast<int>(sizeof(T));
  const bool vectorised = Aligned(out) && Aligned(a) && Aligned(b);
  MLCORE_ASSIGN_OR_RETURN(int grid,
                          GridSize(name, device, vectorised ? n / kVec : n, kBlocksPerSm));
  if (vectorised) {
    Map2Kernel<kVec><<<grid, kThreads>>>(out, a, b, n, op);
  } else {
    Map2Kernel<1><<<grid, kThreads>>>(out, a, b, n, op);
  }
  return CheckLaunch(name);
}

// Launches out = op(a, b) for every dtype that `Supported` accepts; the public layer has
// refused the others already.
template <template <typename> class Supported, typename Op>
Status Binary(const char* name, const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  const int device = out.device().index;
  ScopedDevice scope(device);
  if (scope.error() != cudaSuccess) return CudaError(name, scope.error());
  return VisitDeviceType(out.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    if constexpr (Supported<T>::value) {
      return LaunchMap2(name, device, static_cast<T*>(out.data()), static_cast<const T*>(a.data()),
                        static_cast<const T*>(b.data()), out.numel(), op);
    } else {
      return absl::InternalError(absl::StrCat("ops::", name, ": ",
                                              std::string(DTypeName(out.dtype())),
                                              " reached the CUDA twin unchecked"));
    }
  });
}

template <typename T>
struct IsNumeric : std::bool_constant<!std::is_same_v<T, BoolByte>> {};
template <typename T>
struct IsFloating : std::bool_constant<std::is_floating_point_v<T> || kIsHalf<T>> {};

}  // namespace

Status Fill(Tensor& tensor, uint64_t pattern) {
  const int device = tensor.device().index;
  ScopedDevice scope(device);
  if (scope.error() != cudaSuccess) return CudaError("Fill", scope.error());
  const int64_t n = tensor.numel();
  auto launch = [&](auto word) -> Status {
    using W = decltype(word);
    constexpr int kVec = kPackBytes / static_cast<int>(sizeof(W));
    W* out = static_cast<W*>(tensor.data());
    const bool vectorised = Aligned(out);
    MLCORE_ASSIGN_OR_RETURN(int grid,
                            GridSize("Fill", device, vectorised ? n / kVec : n, kBlocksPerSm));
    if (vectorised) {
      FillKernel<kVec><<<grid, kThreads>>>(out, n, static_cast<W>(pattern));
    } else {
      FillKernel<1><<<grid, kThreads>>>(out, n, static_cast<W>(pattern));
    }
    return CheckLaunch("Fill");
  };
  switch (DTypeSize(tensor.dtype())) {
    case 1:
      return launch(uint8_t{});
    case 2:
      return launch(uint16_t{});
    case 4:
      return launch(uint32_t{});
    default:
      return launch(uint64_t{});
  }
}

Status Cast(const Tensor& x, Tensor& out) {
  const int device = out.device().index;
  ScopedDevice scope(device);
  if (scope.error() != cudaSuccess) return CudaError("Cast", scope.error());
  if (x.dtype() == out.dtype()) {
    if (x.data() == out.data()) return absl::OkStatus();
    const cudaError_t err =
        cudaMemcpyAsync(out.data(), x.data(), x.nbytes(), cudaMemcpyDeviceToDevice, 0);
    return err == cudaSuccess ? absl::OkStatus() : CudaError("Cast", err);
  }
  return VisitDeviceType(x.dtype(), [&](auto from_tag) -> Status {
    using From = decltype(from_tag);
    return VisitDeviceType(out.dtype(), [&](auto to_tag) -> Status {
      using To = decltype(to_tag);
      return LaunchMap1("Cast", device, static_cast<To*>(out.data()),
                        static_cast<const From*>(x.data()), x.numel(), CastTo<To>{});
    });
  });
}

Status Add(const Tensor& a, const Tensor& b, Tensor& out) {
  return Binary<IsNumeric>("Add", a, b, out, AddOp{});
}

Status Mul(const Tensor& a, const Tensor& b, Tensor& out) {
  return Binary<IsNumeric>("Mul", a, b, out, MulOp{});
}

Status Axpy(double alpha, const Tensor& x, Tensor& y) {
  return Binary<IsFloating>("Axpy", y, x, y, AxpyOp{alpha});
}

Status Sum(const Tensor& x, Tensor& out) {
  const int device = x.device().index;
  ScopedDevice scope(device);
  if (scope.error() != cudaSuccess) return CudaError("Sum", scope.error());
  return VisitDeviceType(x.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    using Acc =
        std::conditional_t<std::is_same_v<T, double> || std::is_same_v<T, float> || kIsHalf<T>,
                           double, unsigned long long>;
    constexpr int kVec = kPackBytes / static_cast<int>(sizeof(T));
    const T* data = static_cast<const T*>(x.data());
    const int64_t n = x.numel();
    const bool vectorised = Aligned(data);
    // Four blocks per SM keep the loads in flight while leaving pass two a short list.
    MLCORE_ASSIGN_OR_RETURN(int grid, GridSize("Sum", device, vectorised ? n / kVec : n, 4));
    const DType acc_dtype = std::is_same_v<Acc, double> ? DType::kFloat64 : DType::kInt64;
    MLCORE_ASSIGN_OR_RETURN(Tensor partials, Tensor::Empty({grid}, acc_dtype, x.device()));
    Acc* partial_data = static_cast<Acc*>(partials.data());
    if (vectorised) {
      SumPartialsKernel<kVec, Acc><<<grid, kThreads>>>(data, n, partial_data);
    } else {
      SumPartialsKernel<1, Acc><<<grid, kThreads>>>(data, n, partial_data);
    }
    MLCORE_RETURN_IF_ERROR(CheckLaunch("Sum"));
    if constexpr (std::is_same_v<Acc, double>) {
      if (out.dtype() == DType::kFloat64) {
        SumFinalKernel<<<1, kThreads>>>(partial_data, grid, static_cast<double*>(out.data()));
      } else {
        SumFinalKernel<<<1, kThreads>>>(partial_data, grid, static_cast<float*>(out.data()));
      }
    } else {
      SumFinalKernel<<<1, kThreads>>>(partial_data, grid, static_cast<int64_t*>(out.data()));
    }
    // `partials` goes back to the allocator while pass two may still read it; the next user of
    // that block queues on the same (legacy default) stream, so it runs after pass two.
    return CheckLaunch("Sum");
  });
}

}  // namespace mlcore::ops::cuda
