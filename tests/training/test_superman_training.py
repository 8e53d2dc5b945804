"""Superman learns on real CMU motion: a short SFTTrainer run on the task mixture, loss falls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.testing import tiny_superman
from hf_skeleton.training.superman_tasks import (
    SupermanTaskBuilder,
    build_superman_trainer,
    cmu_to_h36m,
    examples_to_dataset,
    superman_sft_config,
)


def test_cmu_to_h36m_on_both_bvh_layouts(cmu_dir):
    for name in ("02_01.bvh", "16_01.bvh"):  # 43-joint Poser names, 31-joint ASF names
        seq = cmu_to_h36m(hs.load_skeleton(cmu_dir / name))
        assert seq.format.name == "h36m17" and seq.mask.all()
        pos = seq.positions[:, 0]
        height = pos[:, 10, 1].mean() - pos[:, [3, 6], 1].mean()  # head above the ankles, metres, y up
        assert 1.0 < height < 2.2, (name, height)
        femur = np.linalg.norm(pos[:, 2] - pos[:, 1], axis=-1).mean()
        assert 0.3 < femur < 0.6, (name, femur)
    with pytest.raises(hs.SkeletonInputError):
        cmu_to_h36m(hs.SkeletonSequence(np.zeros((2, 17, 3), np.float32), format="h36m17"))


def test_examples_round_trip_through_a_dataset():
    model, proc = tiny_superman()
    b = SupermanTaskBuilder(model, proc)
    m = np.random.default_rng(0).normal(size=(16, 17, 3)).astype(np.float32)
    frames = np.random.default_rng(1).integers(0, 255, (8, 56, 56, 3), dtype=np.uint8)
    exs = [b.predict(m[:8], m[8:]), b.estimate(frames, m[:8])]
    ds = examples_to_dataset(exs)
    assert ds[0]["prompt"] == exs[0]["prompt"] and ds[1]["answer"] == exs[1]["answer"]
    assert np.array_equal(np.asarray(ds[1]["video"], np.uint8), frames)


@pytest.mark.slow
def test_unified_training_on_real_cmu_clips_loss_falls(cmu_dir, tmp_path):
    torch.manual_seed(0)
    model, proc = tiny_superman()
    clips = []
    for name in ("02_01.bvh", "16_01.bvh", "09_01.bvh"):
        seq = cmu_to_h36m(hs.load_skeleton(cmu_dir / name))
        seq = seq.resample(int(seq.num_frames * 20 / seq.fps))
        clips += [seq.positions[s : s + 16, 0] for s in range(0, seq.num_frames - 15, 16)][:4]
    b = SupermanTaskBuilder(model, proc)
    examples = [b.predict(c[:8], c[8:]) for c in clips] + [b.inbetween(c[:8]) for c in clips]
    assert {ex["task"] for ex in examples} == {"predict", "inbetween"}
    args = superman_sft_config(
        str(tmp_path),
        max_steps=16,
        per_device_train_batch_size=4,
        learning_rate=3e-3,
        logging_steps=4,
        disable_tqdm=True,
        seed=0,
    )
    trainer = build_superman_trainer(model, proc, examples, args)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0], losses
