"""Shared builders and fixtures of the skeleton_llm tests."""

from __future__ import annotations

import numpy as np
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


def rendered_like(n: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 (n, size, size, 3) frames that look like renders: soft blobs on a dark background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.zeros((n, size, size, 3))
    for i in range(n):
        for _ in range(6):
            cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.03, 0.1)
            img[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))[..., None] * rng.uniform(0.2, 1, 3)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def assert_generate_equals_greedy(model, inputs, steps: int = 4) -> None:
    """``generate()`` (KV cache, clips read on the prefill step) == ``steps`` greedy full forwards."""
    out = model.generate(**inputs, max_new_tokens=steps, do_sample=False)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    with torch.no_grad():
        for _ in range(steps):
            logits = model(input_ids=ids, attention_mask=mask, skeletons=inputs["skeletons"],
                           skeleton_mask=inputs["skeleton_mask"]).logits
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            ids, mask = torch.cat([ids, nxt], 1), torch.cat([mask, torch.ones_like(nxt)], 1)
    assert torch.equal(out, ids)
