"""PyTorch (CUDA) as the peer for perf/GpuBench's rows, run by scripts/gpu-check.sh on the GPU machine.

Same method as GpuBench: warm up >= 0.5 s, then the median of timed repetitions, each one call plus a device
synchronize. B1 runs fp32 with TF32 off, so torch.matmul is cuBLAS SGEMM: the matmul goal's reference.
"""
import sys
import time

import torch

reps = int(sys.argv[1]) if len(sys.argv) > 1 else 9
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = torch.device("cuda")
print(f"# torch {torch.__version__}, '{torch.cuda.get_device_name(0)}', cuBLAS through torch.matmul (TF32 off)")
print("| row | case | median ms | rate |")
print("|---|---|---|---|")


def median_ms(fn):
    t_end = time.perf_counter() + 0.5
    calls = 0
    while calls < 3 or time.perf_counter() < t_end:
        fn()
        torch.cuda.synchronize()
        calls += 1
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[reps // 2]


def row(name, what, ms, rate):
    print(f"| {name} | {what} | {ms:.3f} | {rate} |", flush=True)


g = torch.Generator(device=dev).manual_seed(1)
for n in (256, 1024, 2048, 4096):
    a = torch.randn(n, n, device=dev, generator=g)
    b = torch.randn(n, n, device=dev, generator=g)
    ms = median_ms(lambda: torch.matmul(a, b))
    row("B1", f"matmul fp32 N={n}", ms, f"{2.0 * n ** 3 / (ms * 1e6):.0f} GFLOP/s")

n = 16_777_216
a, b, c = (torch.rand(n, device=dev, generator=g) for _ in range(3))
ms = median_ms(lambda: a * b + c)
row("B2", f"a*b+c, {n} floats", ms, f"{16.0 * n / (ms * 1e6):.0f} GB/s")
ms = median_ms(lambda: torch.addcmul(c, a, b))
row("B2", f"addcmul (fused a*b+c), {n} floats", ms, f"{16.0 * n / (ms * 1e6):.0f} GB/s")
ms = median_ms(lambda: torch.nn.functional.gelu(a, approximate="tanh"))
row("X5", f"gelu (tanh approximation), F.gelu fused, {n} floats", ms, f"{8.0 * n / (ms * 1e6):.0f} GB/s")
ms = median_ms(lambda: a.sum())
row("B3", f"sum of {n} floats", ms, f"{4.0 * n / (ms * 1e6):.0f} GB/s")

n = 4096
x = torch.randn(n, n, device=dev, generator=g)
ms = median_ms(lambda: x.sum(dim=1))
row("B3", f"sum over axis 1 of {n}x{n}", ms, f"{4.0 * n * n / (ms * 1e6):.0f} GB/s")
ms = median_ms(lambda: torch.softmax(x, dim=-1))
row("B4", f"softmax last axis of {n}x{n}", ms, f"{8.0 * n * n / (ms * 1e6):.0f} GB/s")

heads, length, dim = 8, 512, 64
q, k, v = (torch.randn(1, heads, length, dim, device=dev, generator=g) for _ in range(3))
flops = 4.0 * heads * length * length * dim
ms = median_ms(lambda: torch.softmax(q @ k.transpose(-1, -2) / 8, dim=-1) @ v)
row("B7", f"attention (1,{heads},{length},{dim}) composed", ms, f"{flops / (ms * 1e6):.0f} GFLOP/s")
ms = median_ms(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v))
row("B7", f"attention (1,{heads},{length},{dim}) SDPA", ms, f"{flops / (ms * 1e6):.0f} GFLOP/s")
