"""PyTorch's side of the 4096-wide MLP training step that mlcore_nn_gpu_bench times
(BM_CudaMlp4096TrainStep): 4096-4096-4096-4096-10, ReLU, Adam, cross-entropy, float32 and bf16
autocast, batch 256 and 1024, on the same GPU. Exits 0 with a message when torch or CUDA is
missing, so scripts/gpu-check.sh runs it unconditionally."""

import time

try:
    import torch
except ImportError:
    print("bench_nn_gpu_torch: torch is not installed; skipped")
    raise SystemExit(0)

if not torch.cuda.is_available():
    print("bench_nn_gpu_torch: torch has no CUDA device; skipped")
    raise SystemExit(0)

torch.backends.cuda.matmul.allow_tf32 = False  # mlcore's float32 GEMMs are true float32


def step_rate(batch, bf16, steps=30):
    dev = torch.device("cuda")
    model = torch.nn.Sequential(
        torch.nn.Linear(4096, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 4096),
        torch.nn.ReLU(), torch.nn.Linear(4096, 4096), torch.nn.ReLU(),
        torch.nn.Linear(4096, 10)).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    x = torch.rand(batch, 4096, device=dev) * 2 - 1
    y = torch.arange(batch, device=dev) % 10
    loss_fn = torch.nn.CrossEntropyLoss()

    def one():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()  # mlcore's TrainStep also reads the loss back

    for _ in range(3):
        one()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        one()
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


for bf16 in (False, True):
    for batch in (256, 1024):
        name = "bf16" if bf16 else "float32"
        print(f"torch MLP 4096 {name:<8} batch {batch:>5}: {step_rate(batch, bf16):>10.0f} samples/s")
