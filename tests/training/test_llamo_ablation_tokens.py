"""The discrete-token arms of benchmarks/llamo_evidence.py (native vs k-means vs VGMT motion tokens):
codes per clip, the ``<vq_k>`` text round trip, and training augmentation through the collator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonInputError
from hf_skeleton.testing import build_tiny_tokenizer
from hf_skeleton.training.collators import SkeletonSFTCollator

_spec = importlib.util.spec_from_file_location(
    "llamo_evidence", Path(__file__).resolve().parents[2] / "benchmarks" / "llamo_evidence.py")
le = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(le)

K = 16
AUGMENT = {"max_angle": 30, "max_tilt": 15, "scale_range": (0.9, 1.1)}


@pytest.fixture(scope="module")
def clips(nucla_dir):
    """Three real N-UCLA clips (longer than 16 frames, so resampled to 16) and a 5-frame cut of one."""
    seqs = [hs.load_skeleton(f) for f in sorted(nucla_dir.glob("*.json"))[:12]]
    long = [s for s in seqs if s.num_frames > 16][:3]
    assert len(long) == 3
    short = long[0].copy(positions=long[0].positions[:5], mask=long[0].mask[:5])
    return long + [short]


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer(extra_texts=le.NUCLA, extra_special_tokens=le.SPECIALS + [f"<vq_{k}>" for k in range(K)],
                                vocab_size=300)


@pytest.fixture(scope="module")
def base(tokenizer):
    return le.tiny_llamo(tokenizer, "kinect_v1", hidden=32, layers=1, frames=16, align_view="upright")[1]


@pytest.fixture(scope="module")
def kmeans_quantizer(base, clips):
    step = le.KMeansQuantizer(np.zeros((1, 60)), base.motion_temporal_stride)
    poses = np.concatenate([step.step_poses(*base.prepare_motion(s)) for s in clips])
    return le.KMeansQuantizer(poses[np.linspace(0, len(poses) - 1, K).astype(int)], base.motion_temporal_stride)


@pytest.fixture(scope="module")
def vgmt_quantizer(base, clips):
    torch.manual_seed(0)
    config = hs.VGMTConfig(format="kinect_v1", num_codes=K, code_dim=16, channels=[8, 16], norm_groups=4,
                           use_vision=False, token_grouping="part", temporal_downsample=2)
    model = hs.VGMTModel(config)
    pos, mask = le.pad_clips([base.prepare_motion(s) for s in clips])
    model.train()
    with torch.no_grad():  # one training-mode pass starts the codebook from encoder outputs (no collapse)
        model(torch.from_numpy(pos), skeleton_mask=torch.from_numpy(mask))
    model.eval()
    return le.VGMTQuantizer(model)


@pytest.fixture(params=["kmeans", "vgmt"])
def processor(request, tokenizer, base, kmeans_quantizer, vgmt_quantizer):
    quantizer = kmeans_quantizer if request.param == "kmeans" else vgmt_quantizer
    return le.DiscreteMotionProcessor(tokenizer, base, quantizer)


def test_codes_per_clip(processor, clips):
    codes = processor.codes(clips)
    if isinstance(processor.quantizer, le.VGMTQuantizer):
        assert processor.quantizer.model.config.num_tokens_per_step == 5  # torso, two arms, two legs
        expected = [8 * 5] * 3 + [3 * 5]  # ceil(T / 2) steps x 5 body parts
    else:
        expected = [4] * 3 + [2]  # one code per 4 frames
    assert [len(c) for c in codes] == expected
    assert all(c.dtype.kind == "i" and 0 <= c.min() and c.max() < K for c in codes)
    assert len(np.unique(np.concatenate(codes))) > 1


def test_vgmt_codes_do_not_depend_on_the_batch(vgmt_quantizer, base, clips):
    prepared = [base.prepare_motion(s) for s in clips]
    together = vgmt_quantizer(prepared)
    for clip, codes in zip(prepared, together):
        np.testing.assert_array_equal(vgmt_quantizer([clip])[0], codes)


def test_token_text_round_trips(processor, tokenizer, clips):
    codes = processor.codes(clips)
    batch = processor(clips, ["<motion>\nWhat is the person doing?"] * 3 + ["What is the person doing?"])
    for row, mask, c in zip(batch["input_ids"], batch["attention_mask"], codes):
        np.testing.assert_array_equal(processor.codes_from_ids(row), c)
        text = tokenizer.decode(row[mask.bool()])
        assert processor.token_text(c) in text and "<motion>" not in text
    assert processor.token_text([3, 0, 12]) == "<vq_3><vq_0><vq_12>"


def test_augment_changes_codes_deterministically(processor, clips):
    plain = processor.codes(clips)
    a = processor.codes(clips, augment={**AUGMENT, "seed": 5})
    b = processor.codes(clips, augment={**AUGMENT, "seed": 5})
    c = processor.codes(clips, augment={**AUGMENT, "seed": 6})
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, plain))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_collator_passes_augmentation(processor, clips):
    examples = [{"skeleton": s, "prompt": "What is the person doing?", "answer": "walk around"} for s in clips]
    first = SkeletonSFTCollator(processor, augment=AUGMENT, seed=0)(examples)
    again = SkeletonSFTCollator(processor, augment=AUGMENT, seed=0)(examples)
    plain = SkeletonSFTCollator(processor)(examples)
    assert torch.equal(first["input_ids"], again["input_ids"])
    assert not torch.equal(first["input_ids"], plain["input_ids"])
    # the loss covers the answer only, never the motion tokens
    answer = first["labels"][first["labels"] != -100]
    assert len(processor.codes_from_ids(answer)) == 0 and len(answer) > 0


def test_missing_code_tokens_is_a_typed_error(base, kmeans_quantizer):
    plain = build_tiny_tokenizer(extra_special_tokens=le.SPECIALS, vocab_size=300)
    with pytest.raises(SkeletonInputError, match="vq"):
        le.DiscreteMotionProcessor(plain, base, kmeans_quantizer)
