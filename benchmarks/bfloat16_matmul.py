"""Matrix products in float32 and bfloat16 on this CPU: is bfloat16 native here?

    python benchmarks/bfloat16_matmul.py [--threads 2] [--repeats 3] [--shape 64 1024 4096]

Without oneDNN's bfloat16 GEMM (x86 needs AVX-512 BW/VL/DQ or AMX; torch's own check is
``torch.ops.mkldnn._is_mkldnn_bf16_supported()``) torch falls back to a scalar kernel, and a bfloat16
checkpoint computes hundreds of times slower than the same weights in float32. The published-dimension tests
pick their compute dtype from that check (``hf_skeleton.testing_published.compute_dtype``).
"""

from __future__ import annotations

import argparse
import platform

import torch
from _timing import median_seconds

from hf_skeleton.testing_published import native_bfloat16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shape", type=int, nargs=3, default=(64, 1024, 4096), metavar=("M", "K", "N"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    m, k, n = args.shape
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, "
          f"capability {torch.backends.cpu.get_cpu_capability()}, native bfloat16: {native_bfloat16()}")
    print(f"({m} x {k}) @ ({k} x {n}), median of {args.repeats} after a warm-up")
    for dtype in (torch.float32, torch.bfloat16):
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        seconds = median_seconds(lambda a=a, b=b: a @ b, args.repeats)
        print(f"{dtype!s:15} {seconds:9.4f} s  {2 * m * k * n / seconds / 1e9:8.1f} GFLOP/s")


if __name__ == "__main__":
    main()
