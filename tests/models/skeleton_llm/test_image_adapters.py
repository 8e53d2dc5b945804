"""The differentiable image adapters against each VLM family's own (PIL) image processor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skeleton_llm_fixtures import rendered_like
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as hf_smart_resize
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

from hf_skeleton import SkeletonInputError
from hf_skeleton.models.skeleton_llm.image_adapters import ImageAdapter, ImageAdapterConfig, smart_resize


def _compare(processor, frames_u8: np.ndarray) -> dict[str, float]:
    ref = processor([f for f in frames_u8], return_tensors="pt")
    adapter = ImageAdapter(ImageAdapterConfig.from_image_processor(processor))
    x = torch.from_numpy(frames_u8).permute(0, 3, 1, 2).float() / 255.0
    out = adapter(x)
    # every tensor the processor returns, except GOT-OCR2's tile counts, which are 1 per image here
    assert set(out) == set(ref.keys()) - {"num_patches"}
    if "num_patches" in ref:
        assert ref["num_patches"].tolist() == [1] * len(frames_u8)
    diffs = {}
    for key, value in out.items():
        assert tuple(value.shape) == tuple(ref[key].shape), key
        diffs[key] = (value.double() - ref[key].double()).abs().max().item()
    return diffs


# Sizes where the processor's resize is the identity: the match is exact (<= 1e-5).
EXACT = [
    ("qwen2_vl", lambda: Qwen2VLImageProcessorPil(), 56),
    ("qwen2_vl", lambda: Qwen2VLImageProcessorPil(), 112),
    ("got_ocr2", lambda: GotOcr2ImageProcessorPil(size={"height": 56, "width": 56}), 56),
    ("got_ocr2-internvl", lambda: GotOcr2ImageProcessorPil(size={"height": 56, "width": 56}, crop_to_patches=True,
                                                           image_mean=[0.485, 0.456, 0.406],
                                                           image_std=[0.229, 0.224, 0.225]), 56),
    ("clip", lambda: CLIPImageProcessorPil(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}), 56),
    ("siglip", lambda: SiglipImageProcessorPil(size={"height": 56, "width": 56}), 56),
]


@pytest.mark.parametrize("name,make,size", EXACT, ids=[f"{e[0]}-{e[2]}" for e in EXACT])
def test_adapter_equals_processor_exactly(name, make, size):
    diffs = _compare(make(), rendered_like(3, size))
    assert max(diffs.values()) <= 1e-5, diffs


# Sizes where the processor resizes: PIL resamples uint8 with 8-bit intermediate rounding, our
# filter is the same bicubic (a = -0.5, antialiased) in float; they agree to a few uint8 levels.
RESIZED = [
    ("qwen2_vl", lambda: Qwen2VLImageProcessorPil(), 100),
    ("got_ocr2", lambda: GotOcr2ImageProcessorPil(size={"height": 56, "width": 56}), 84),
    ("clip", lambda: CLIPImageProcessorPil(size={"shortest_edge": 56}, crop_size={"height": 48, "width": 48}), 90),
    ("siglip", lambda: SiglipImageProcessorPil(size={"height": 56, "width": 56}), 70),
]


@pytest.mark.parametrize("name,make,size", RESIZED, ids=[f"{e[0]}-{e[2]}" for e in RESIZED])
def test_adapter_matches_processor_when_resizing(name, make, size):
    processor = make()
    diffs = _compare(processor, rendered_like(2, size, seed=1))
    tolerance = 3.0 / 255.0 / min(processor.image_std)  # 3 uint8 levels, in normalised units
    assert diffs["pixel_values"] <= tolerance, diffs


def test_smart_resize_equals_transformers():
    for h, w in [(56, 56), (100, 230), (448, 448), (30, 900), (2000, 1500)]:
        assert smart_resize(h, w) == hf_smart_resize(h, w)


def test_qwen_video_of_repeated_frames_equals_image_patches():
    adapter = ImageAdapter(ImageAdapterConfig("qwen2_vl"))
    frame = torch.from_numpy(rendered_like(1, 56)).permute(0, 3, 1, 2).float() / 255
    image = adapter(frame)
    video = adapter(frame.repeat(2, 1, 1, 1)[None], as_video=True)  # one clip, the frame twice
    assert torch.equal(video["pixel_values_videos"], image["pixel_values"])
    assert video["video_grid_thw"].tolist() == image["image_grid_thw"].tolist() == [[1, 4, 4]]
    odd = adapter(frame.repeat(3, 1, 1, 1)[None], as_video=True)  # 3 frames: last repeated -> t = 2
    assert odd["video_grid_thw"].tolist() == [[2, 4, 4]]


def test_adapter_is_differentiable():
    adapter = ImageAdapter(ImageAdapterConfig("got_ocr2", size=(6, 6)))
    x = torch.rand(1, 3, 9, 9, dtype=torch.float64, requires_grad=True) * 0.8 + 0.1
    assert torch.autograd.gradcheck(lambda t: adapter(t)["pixel_values"], (x.detach().requires_grad_(),))
    q = ImageAdapter(ImageAdapterConfig("qwen2_vl"))
    img = torch.rand(2, 3, 56, 56, requires_grad=True)
    q(img)["pixel_values"].square().sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_adapter_rejects_bad_input():
    adapter = ImageAdapter(ImageAdapterConfig("clip", size=56, crop_size=(56, 56)))
    with pytest.raises(SkeletonInputError, match="images"):
        adapter(torch.rand(3, 56, 56))
    with pytest.raises(SkeletonInputError, match="as_video"):
        adapter(torch.rand(1, 2, 3, 56, 56), as_video=True)
    with pytest.raises(SkeletonInputError, match="family"):
        ImageAdapterConfig("unknown")
    with pytest.raises(SkeletonInputError, match="image_std"):
        ImageAdapterConfig("siglip", image_std=(0.5, 0.0, 0.5))
