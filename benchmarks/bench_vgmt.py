"""VGMT latency: encode / decode / training step, median of repeated runs (CPU, one thread by default).

Configurations:
- paper-skeleton: the paper's skeleton stream and codebook (channels 128-256-512, 1024-d skeletal half,
  8192 codes), skeleton-only encoding, 16 frames x 17 H36M joints;
- paper-fused: the same plus the default visual stream (ViTPose-base backbone, 4 levels, random weights)
  on 256x192 frames;
- example: the small configuration trained by examples/train_vgmt.py on CMU (43 joints).

    OMP_NUM_THREADS=1 python benchmarks/bench_vgmt.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os

import torch

import hf_skeleton as hs
from _timing import median_seconds


def bench(name: str, config: hs.VGMTConfig, batch: int, image_hw: tuple[int, int] | None, repeats: int) -> dict:
    torch.manual_seed(0)
    model = hs.VGMTModel(config).eval()
    J = config.num_joints
    x = torch.rand(batch, 16, J, 3) * 2 - 1
    pv = None if image_hw is None else torch.randn(batch, 16, 3, *image_hw)
    codes = model.encode(x, pv)
    row = {"config": name, "batch": batch, "frames": 16, "joints": J,
           "parameters_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
           "encode_s": median_seconds(lambda: model.encode(x, pv), repeats),
           "decode_s": median_seconds(lambda: model.decode(codes), repeats)}
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        out = model(x, pixel_values=pv)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    row["train_step_s"] = median_seconds(step, repeats)
    row = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
    print(json.dumps(row))
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-fused", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps({"threads": args.threads, "cpu_count": os.cpu_count(), "loadavg": os.getloadavg(),
                      "torch": torch.__version__}))
    bench("paper-skeleton", hs.VGMTConfig(use_vision=False), 8, None, args.repeats)
    if not args.skip_fused:
        bench("paper-fused", hs.VGMTConfig(), 1, (256, 192), args.repeats)
    cmu = hs.load_skeleton(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "cmu_mocap_bvh",
                                        "02_01.bvh"))
    bench("example", hs.VGMTConfig(format=cmu.format.to_dict(), num_codes=512, code_dim=128, channels=[32, 64],
                                   norm_groups=16, use_vision=False), 16, None, args.repeats)


if __name__ == "__main__":
    main()
