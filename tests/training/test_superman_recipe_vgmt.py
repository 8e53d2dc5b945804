"""The Superman recipe trains its VGMT on clips normalised the way the tasks normalise what they tokenise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hf_skeleton.errors import SkeletonInputError
from hf_skeleton.testing import tiny_superman
from hf_skeleton.training.superman_recipe import train_vgmt, vgmt_training_clips
from hf_skeleton.training.superman_tasks import SupermanTaskBuilder


def _box(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and half the largest side of the bounding box of (T, J, 3), written out with numpy."""
    lo, hi = x.reshape(-1, 3).min(0), x.reshape(-1, 3).max(0)
    return (lo + hi) / 2, float(((hi - lo) / 2).max())


def _walk(rng, frames=16, joints=17) -> np.ndarray:
    """A body drifting along x (so a future leaves its history's box), with per-joint jitter."""
    pose = rng.normal(scale=0.3, size=(1, joints, 3))
    drift = np.zeros((frames, 1, 3))
    drift[:, 0, 0] = np.linspace(0.0, 2.0, frames)
    return (pose + drift + rng.normal(scale=0.02, size=(frames, joints, 3))).astype(np.float32)


def test_training_clips_are_the_tasks_normalisation():
    rng = np.random.default_rng(0)
    ws = [_walk(rng) for _ in range(3)]
    clips = vgmt_training_clips(ws, clip=8).numpy()
    assert clips.shape == (9, 8, 17, 3)
    for i, w in enumerate(ws):
        h, f = w[:8], w[8:]
        c, s = _box(h)
        np.testing.assert_allclose(clips[3 * i], (h - c) / s, atol=1e-5)  # history: own box
        np.testing.assert_allclose(clips[3 * i + 1], (f - c) / s, atol=1e-5)  # future: the history's box
        c, s = _box(np.concatenate([f[:2], f[-2:]]))  # K = 8 // 4 keyframes at each end
        np.testing.assert_allclose(clips[3 * i + 2], (f - c) / s, atol=1e-5)  # MIB clip: the keyframes' box
    assert np.abs(clips[1]).max() > 1.5  # the drifting future leaves [-1, 1]: the range the VGMT must learn


def test_task_tokens_come_from_the_training_clips():
    torch.manual_seed(0)
    model, proc = tiny_superman()
    model.eval()
    b = SupermanTaskBuilder(model, proc)
    w = _walk(np.random.default_rng(1))
    clips = vgmt_training_clips([w], clip=8)
    codes = model.motion_to_codes(clips)
    pred, mib = b.predict(w[:8], w[8:]), b.inbetween(w[8:])
    assert torch.equal(pred["target_codes"], codes[1])
    assert proc.format_motion(codes[0]) in pred["prompt"]  # the history in the prompt
    assert torch.equal(mib["target_codes"], codes[2])


def test_training_clips_reject_wrong_windows_and_train():
    with pytest.raises(SkeletonInputError, match=r"windows_2t\[0\].*\(16, J, 3\).*\(12, 17, 3\)"):
        vgmt_training_clips([np.zeros((12, 17, 3), np.float32)], clip=8)
    clips = vgmt_training_clips([_walk(np.random.default_rng(2)) for _ in range(4)], clip=8)
    vgmt = train_vgmt(clips, steps=2, log=lambda line: None)
    assert not vgmt.training and vgmt.config.skeleton_format.num_joints == 17
    assert int(vgmt.codebook.num_updates) == 2 and bool(vgmt.codebook.initialized)  # it did train, two steps
