"""Shared builders and fixtures of the skeleton_llm tests."""

from __future__ import annotations

import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.skeletons.synthetic import synthetic_clip
from hf_skeleton.testing import (
    INTERNVL_IMAGE_TOKENS,
    LLAVA_IMAGE_TOKEN,
    QWEN_VISION_TOKENS,
    build_tiny_tokenizer,
    tiny_internvl_config,
    tiny_llava_config,
    tiny_qwen2_5_vl_config,
)

torch.set_num_threads(1)


FAMILIES = {"qwen2_5_vl": tiny_qwen2_5_vl_config, "llava": tiny_llava_config, "internvl": tiny_internvl_config}


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS + ("<skeleton>", LLAVA_IMAGE_TOKEN)
                                + INTERNVL_IMAGE_TOKENS)


def make(tokenizer, family="qwen2_5_vl", frames_as="images", num_frames=2, seed=0):
    torch.manual_seed(seed)
    draction = hs.DrActionConfig(format="kinect_v2", num_frames=num_frames, image_size=56, backend="torch")
    config = hs.SkeletonLLMConfig(draction, FAMILIES[family](tokenizer), frames_as=frames_as)
    model = hs.SkeletonLLMForConditionalGeneration(config)
    return model, hs.SkeletonLLMProcessor.from_model_config(config, tokenizer)


def clips():
    return [synthetic_clip("walk", 20), synthetic_clip("wave", 9)]


def examples():
    a, b = clips()
    return [{"skeleton": a, "prompt": "what action is the person doing ?", "answer": "walk around"},
            {"skeleton": b, "prompt": "what action is the person doing ?", "answer": "hand waving"}]
