"""Superman overheads: MAFT parameters at the paper's scale, strict parsing and formatting speed.

OMP_NUM_THREADS=1 python benchmarks/superman.py
"""

from __future__ import annotations

import statistics
import time

import torch
from transformers import AutoModel, Qwen2_5_VLConfig

from hf_skeleton.models.superman import MAFT, MotionTextFormatter
from hf_skeleton.models.vgmt import VGMTConfig


def maft_overhead() -> dict:
    # Qwen2.5-VL-7B-Instruct shapes (its config.json), built on the meta device: no weights are allocated.
    vlm = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "vocab_size": 152064,
        },
        vision_config={
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "out_hidden_size": 3584,
        },
    )
    with torch.device("meta"):
        n_vlm = sum(p.numel() for p in AutoModel.from_config(vlm).parameters())
    n_maft = sum(p.numel() for p in MAFT(vlm.vision_config.hidden_size, 17, 8, 4, mlp_ratio=4.0).parameters())
    return {"vlm_params": n_vlm, "maft_params": n_maft, "share_percent": round(100 * n_maft / n_vlm, 3)}


def parse_speed(repeats: int = 7) -> dict:
    fmt = MotionTextFormatter.from_vgmt_config(
        VGMTConfig(
            format="h36m17",
            num_codes=8192,
            code_dim=8,
            channels=[8],
            dilations=[1],
            norm_groups=2,
            use_vision=False,
        )
    )
    codes = torch.randint(0, 8192, (8, 17))  # one 16-frame clip: 8 steps x 17 joints = 136 tokens
    text = fmt.format(codes)
    times_f, times_p = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(200):
            fmt.format(codes)
        times_f.append((time.perf_counter() - t) / 200)
        t = time.perf_counter()
        for _ in range(200):
            fmt.parse(text, num_steps=8)
        times_p.append((time.perf_counter() - t) / 200)
    return {
        "format_ms_per_clip": round(statistics.median(times_f) * 1e3, 3),
        "parse_ms_per_clip": round(statistics.median(times_p) * 1e3, 3),
    }


if __name__ == "__main__":
    torch.set_num_threads(1)
    print({**maft_overhead(), **parse_speed()})
