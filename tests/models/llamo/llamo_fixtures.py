"""Shared builders and fixtures of the llamo tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import CLIPVisionConfig, SiglipVisionConfig

import hf_skeleton as hs
from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config

torch.set_num_threads(1)


TINY_MOTION = dict(motion_hidden_size=32, motion_num_layers=1, motion_num_heads=4, motion_intermediate_size=64,
                   max_motion_frames=24, motion_temporal_stride=2, motion_dropout=0.0, fusion_num_heads=4)


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer(extra_special_tokens=["<motion>", "<video>"])


def tiny_vision(kind: str = "clip"):
    cls = CLIPVisionConfig if kind == "clip" else SiglipVisionConfig
    return cls(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=56,
               patch_size=14)


def make_config(tok, fmt="kinect_v1", video=True, **kw):
    args = dict(TINY_MOTION, format=fmt, use_video=video, vision_config=tiny_vision() if video else None,
                num_video_frames=2, video_pooling="mean", text_config=tiny_text_config(tok, hidden_size=32, heads=4),
                motion_token_id=tok.convert_tokens_to_ids("<motion>"),
                video_token_id=tok.convert_tokens_to_ids("<video>"))
    args.update(kw)
    return hs.LlamoConfig(**args)


def make(tok, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = make_config(tok, **kw)
    return hs.LlamoForConditionalGeneration(cfg).eval(), hs.LlamoProcessor.from_config(cfg, tok)


def clips(J=20, lengths=(7, 1), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(T, J, 3)).astype(np.float32) for T in lengths]


def frames(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, 70, 90, 3), dtype=np.uint8)
