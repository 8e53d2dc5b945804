"""Shared builders and fixtures of the vgmt tests."""

from __future__ import annotations

import torch
from transformers import ResNetConfig

import hf_skeleton as hs

torch.set_num_threads(1)


def tiny_config(**kw) -> hs.VGMTConfig:
    base = {"num_codes": 32, "code_dim": 32, "channels": [16, 32], "dilations": [1, 3], "norm_groups": 8, "use_vision": False}
    base.update(kw)
    return hs.VGMTConfig(**base)


def tiny_vision_kw() -> dict:
    vc = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16, 16, 32], depths=[1, 1, 1, 1],
                      out_features=["stage1", "stage2", "stage3", "stage4"])
    return {"use_vision": True, "vision_config": vc, "num_heads": 4, "num_points": 2, "num_levels": 3}


def brute_force(z_s, c_s, z_v=None, c_v=None):
    d = ((z_s[:, None] - c_s[None]) ** 2).sum(-1)
    if z_v is not None:
        d = d + ((z_v[:, None] - c_v[None]) ** 2).sum(-1)
    return d.argmin(1)
