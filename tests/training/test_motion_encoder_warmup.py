"""The LLaMo motion-encoder warm-up (encoder + mean pooling + linear head, cross-entropy) on real N-UCLA clips."""

from __future__ import annotations

import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.testing import tiny_llamo
from hf_skeleton.training.motion_encoder_warmup import motion_batch, pooled_logits, warm_up_motion_encoder


@pytest.fixture(scope="module")
def setup(nucla_dir):
    model, tiny = tiny_llamo(use_video=False, max_motion_frames=16, motion_temporal_stride=4)
    config = model.config
    proc = hs.LlamoProcessor.from_config(config, tiny.tokenizer, align_view="upright")
    # two actions that differ in the whole body: sit down vs walk around, 6 subjects each
    files = [nucla_dir / f"{a}_s0{s}_e00_v01.json" for a in ("a04", "a05") for s in range(1, 7)]
    clips = [hs.load_skeleton(f) for f in files if f.is_file()]
    return config, proc, clips, [c.meta["label_name"] for c in clips]


def test_motion_batch_pads_and_seeds_augmentation(setup):
    _, proc, clips, _ = setup
    x, m = motion_batch(proc, clips[:3])
    assert x.shape[:3] == m.shape and x.shape[1] == max(min(c.num_frames, 16) for c in clips[:3])
    a = motion_batch(proc, clips[:3], {"max_angle": 30.0}, seed=5)[0]
    assert torch.equal(a, motion_batch(proc, clips[:3], {"max_angle": 30.0}, seed=5)[0])
    assert not torch.equal(a, motion_batch(proc, clips[:3], {"max_angle": 30.0}, seed=6)[0])


def test_warm_up_separates_two_real_actions(setup):
    from hf_skeleton.models.llamo.motion_encoder import LlamoMotionEncoder

    config, proc, clips, labels = setup
    assert len(set(labels)) == 2 and len(clips) >= 10
    torch.manual_seed(0)
    encoder = LlamoMotionEncoder(config)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    losses = []
    head = warm_up_motion_encoder(encoder, proc, clips, labels, epochs=15, lr=3e-3, batch_size=4,
                                  on_epoch=lambda epoch, loss, head: losses.append(loss))
    assert len(losses) == 15 and head.classes == sorted(set(labels))
    assert any(not torch.equal(before[k], v) for k, v in encoder.state_dict().items())  # the encoder trained
    encoder.eval()
    with torch.no_grad():
        pred = pooled_logits(encoder, head, *motion_batch(proc, clips)).argmax(-1)
    truth = torch.tensor([head.classes.index(y) for y in labels])
    assert (pred == truth).float().mean() >= 0.9  # chance is 0.5


def test_warm_up_rejects_mismatched_labels(setup):
    from hf_skeleton.models.llamo.motion_encoder import LlamoMotionEncoder

    config, proc, clips, labels = setup
    with pytest.raises(hs.SkeletonInputError, match="labels"):
        warm_up_motion_encoder(LlamoMotionEncoder(config), proc, clips, labels[:-1])
