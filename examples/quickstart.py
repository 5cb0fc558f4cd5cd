"""mlcore's quickstart: what the foundation offers, end to end, in one script.

Tensors that share memory with numpy and any DLPack framework, the first CPU/CUDA kernels, what
this build and machine can do, and the embedded store that every later module records into.
Run: python examples/quickstart.py   (MLCORE_HOME chooses where the store lives)
"""

import numpy as np

import mlcore


def main():
    info = mlcore.build_info()
    print(f"mlcore {info['version']} built by {info['compiler']}, CUDA "
          f"{'built in' if info['cuda_enabled'] else 'not built'}")
    if mlcore.cuda.is_available():
        for i in range(mlcore.cuda.device_count()):
            free, total = mlcore.cuda.memory_info(i)
            print(f"  cuda:{i} {mlcore.cuda.device_name(i)}, {free / 2**30:.1f} of "
                  f"{total / 2**30:.1f} GiB free")
    else:
        print(f"  no GPU in use: {mlcore.cuda.unavailable_reason()}")

    # Zero-copy both ways: one buffer, two views.
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = mlcore.from_numpy(a)
    b = np.asarray(t)
    b[0, 0] = 100.0
    print(f"numpy -> mlcore -> numpy {t}: zero-copy: {bool(np.shares_memory(a, b) and a[0, 0] == 100)}")
    d = np.from_dlpack(mlcore.from_dlpack(a))
    print(f"numpy -> DLPack -> mlcore -> DLPack -> numpy: zero-copy: {np.shares_memory(a, d)}")

    # Kernels: the tensor's device picks the CPU or the CUDA twin.
    device = "cuda" if mlcore.cuda.is_available() else "cpu"
    x = mlcore.tensor(np.linspace(0, 1, 1_000_001, dtype=np.float32), device=device)
    y = mlcore.zeros([1_000_001], device=device)
    mlcore.ops.fill(y, 1.0)
    mlcore.ops.axpy(2.0, x, y)                          # y = 1 + 2x
    total = float(mlcore.ops.sum(y))
    half = mlcore.ops.cast(y, "bfloat16")
    print(f"on {device}: sum(1 + 2x) = {total:.1f} (exact 2000002.0), bfloat16 copy {half}")
    try:
        mlcore.ops.add(mlcore.zeros([2, 3]), mlcore.zeros([3, 2]))
    except ValueError as error:
        print(f"mismatched shapes are refused: {error}")

    # The embedded store: runs, trials and models will be recorded here.
    store = mlcore.store.MetadataStore()
    artifacts = mlcore.store.ArtifactStore()
    art = artifacts.put(np.asarray(x.cpu()).tobytes())
    mlcore.store.record_artifact(store, art, "application/x-numpy-float32")
    count = store.execute("SELECT COUNT(*) FROM artifacts")[0][0]
    print(f"store {store.path}: artifact sha256:{art.digest[:12]}... ({art.size} bytes); "
          f"{count} artifact row(s)")
    artifacts.verify(art.digest)
    print("quickstart: ok")


if __name__ == "__main__":
    main()
