"""Training augmentation: applied after normalisation, seeded per batch, identical for both encodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.skeletons.synthetic import synthetic_clip
from hf_skeleton.skeletons.transforms import augment_batch, bone_lengths
from hf_skeleton.testing import (
    QWEN_VISION_TOKENS,
    build_tiny_tokenizer,
    tiny_qwen2_5_vl_config,
    tiny_text_config,
)
from hf_skeleton.training.collators import SkeletonSFTCollator

YAW = {"max_angle": 40.0, "scale_range": (1.0, 1.0)}


def test_augment_batch_is_seeded_and_validated():
    clips = [synthetic_clip("walk", 12), synthetic_clip("wave", 8)]
    a, b = augment_batch(clips, {**YAW, "seed": 3}), augment_batch(clips, {**YAW, "seed": 3})
    c = augment_batch(clips, {**YAW, "seed": 4})
    assert all(np.array_equal(x.positions, y.positions) for x, y in zip(a, b))
    assert not np.allclose(a[0].positions, c[0].positions)
    np.testing.assert_allclose(np.nan_to_num(bone_lengths(a[0])), np.nan_to_num(bone_lengths(clips[0])), atol=1e-5)
    with pytest.raises(hs.SkeletonInputError, match="max_yaw"):
        augment_batch(clips, {"max_yaw": 10})
    with pytest.raises(hs.SkeletonInputError, match="augment"):
        augment_batch(clips, [("max_angle", 10)])


def _llamo_processor():
    tok = build_tiny_tokenizer(extra_special_tokens=["<motion>", "<video>"])
    cfg = hs.LlamoConfig(format="kinect_v2", motion_hidden_size=32, motion_num_layers=1, motion_num_heads=4,
                         motion_intermediate_size=64, max_motion_frames=24, motion_temporal_stride=2,
                         text_config=tiny_text_config(tok, hidden_size=32, heads=4),
                         motion_token_id=tok.convert_tokens_to_ids("<motion>"),
                         video_token_id=tok.convert_tokens_to_ids("<video>"))
    return hs.LlamoProcessor.from_config(cfg, tok, align_view=True)


def _skeleton_llm_processor():
    tok = build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS + ("<skeleton>",))
    draction = hs.DrActionConfig(format="kinect_v2", num_frames=2, image_size=56, backend="torch")
    config = hs.SkeletonLLMConfig(draction, tiny_qwen2_5_vl_config(tok))
    return hs.SkeletonLLMProcessor.from_model_config(config, tok, align_view=True)


@pytest.mark.parametrize("make, key", [(_llamo_processor, "motion"), (_skeleton_llm_processor, "skeletons")])
def test_processors_rotate_the_aligned_clip_about_the_up_axis(make, key):
    proc = make()
    clip = synthetic_clip("walk", 12)
    plain = proc(skeletons=[clip], text=["which action ?"])[key].numpy()
    rotated = proc(skeletons=[clip], text=["which action ?"], augment={**YAW, "seed": 0})[key].numpy()
    assert not np.allclose(plain, rotated, atol=1e-3)
    # a yaw about y keeps heights and the horizontal distance to the (origin) root of frame 0
    np.testing.assert_allclose(plain[..., 1], rotated[..., 1], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(plain[..., [0, 2]], axis=-1),
                               np.linalg.norm(rotated[..., [0, 2]], axis=-1), atol=1e-4)


def test_collator_draws_per_batch_and_reproduces_from_its_seed():
    proc = _llamo_processor()
    examples = [{"skeleton": synthetic_clip("walk", 12), "prompt": "which action ?", "answer": "walk"}]
    first = SkeletonSFTCollator(proc, augment=YAW, seed=7)
    again = SkeletonSFTCollator(proc, augment=YAW, seed=7)
    b1, b2 = first(examples), first(examples)
    assert not torch.allclose(b1["motion"], b2["motion"])
    assert torch.equal(b1["motion"], again(examples)["motion"])
    assert torch.equal(b1["labels"], b2["labels"])  # augmentation never changes the text
    with pytest.raises(hs.SkeletonInputError, match="augment"):
        SkeletonSFTCollator(proc, augment=30)


def test_upright_alignment_is_invariant_to_any_rotation_of_the_input():
    from scipy.spatial.transform import Rotation

    from hf_skeleton.skeletons.transforms import normalize, upright_rotation

    clip = synthetic_clip("walk", 16)
    turned = clip.positions @ Rotation.from_euler("xyz", [25, 70, -15], degrees=True).as_matrix().T.astype(np.float32)
    other = hs.SkeletonSequence(turned, mask=clip.mask, format=clip.format, fps=clip.fps)
    a = normalize(clip, align_view="upright").positions
    b = normalize(other, align_view="upright").positions
    np.testing.assert_allclose(a, b, atol=1e-4)
    # facing-only alignment cannot undo a tilt
    assert not np.allclose(normalize(clip, align_view=True).positions, normalize(other, align_view=True).positions,
                           atol=1e-2)
    rot, source = upright_rotation(other)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
    assert np.isclose(np.linalg.det(rot), 1.0) and source.startswith("upright")
    with pytest.raises(hs.SkeletonInputError, match="align_view"):
        normalize(clip, align_view="sideways")
