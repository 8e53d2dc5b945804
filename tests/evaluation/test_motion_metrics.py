"""Motion metrics against hand-computed values and scipy's Procrustes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from hf_skeleton.errors import SkeletonInputError
from hf_skeleton.evaluation import (
    horizon_frames,
    inbetween_error,
    linear_interpolation,
    mm,
    mpjpe,
    n_mpjpe,
    p_mpjpe,
    prediction_errors,
    procrustes_align,
    zero_velocity_prediction,
)

rng = np.random.default_rng(0)


def test_constant_offset_gives_its_length():
    target = rng.normal(size=(4, 10, 17, 3))
    d = np.array([0.03, -0.04, 0.12])
    assert mpjpe(target + d, target) == pytest.approx(np.linalg.norm(d))
    assert mm(mpjpe(target + d, target), "m") == pytest.approx(130.0)
    assert mm(2.0, "cm") == 20.0
    with pytest.raises(SkeletonInputError, match="units"):
        mm(1.0, "px")


def test_mask_excludes_joints():
    target = rng.normal(size=(5, 17, 3))
    pred = target.copy()
    pred[:, 3] += [0.0, 0.0, 100.0]
    pred[:, 4] += [0.0, 2.0, 0.0]
    mask = np.ones((5, 17), bool)
    mask[:, 3] = False
    assert mpjpe(pred, target, mask) == pytest.approx(2.0 / 16)
    with pytest.raises(SkeletonInputError, match="mask"):
        mpjpe(pred, target, np.zeros((5, 17), bool))
    with pytest.raises(SkeletonInputError):
        mpjpe(pred, target[:, :16])


def test_scale_and_similarity_alignment():
    target = rng.normal(size=(6, 17, 3))
    rot = Rotation.random(6, random_state=1).as_matrix()
    pred = 1.7 * np.einsum("tij,tkj->tki", rot, target) + rng.normal(size=(6, 1, 3))
    assert mpjpe(pred, target) > 0.5
    assert p_mpjpe(pred, target) == pytest.approx(0.0, abs=1e-9)
    assert n_mpjpe(2.5 * target, target) == pytest.approx(0.0, abs=1e-12)
    # a mirror image is not a rotation: Procrustes must not undo it
    assert p_mpjpe(target * np.array([-1.0, 1.0, 1.0]), target) > 0.1


def test_procrustes_matches_scipy():
    target = rng.normal(size=(17, 3))
    pred = target @ Rotation.from_euler("xyz", [0.3, -0.2, 0.9]).as_matrix().T * 0.8 + 0.05 * rng.normal(size=(17, 3))
    p0, t0 = pred - pred.mean(0), target - target.mean(0)
    rot, sig_sum = orthogonal_procrustes(p0, t0)
    assert np.linalg.det(rot) > 0
    expected = (sig_sum / (p0 ** 2).sum()) * p0 @ rot + target.mean(0)
    np.testing.assert_allclose(procrustes_align(pred, target), expected, atol=1e-10)
    assert p_mpjpe(pred, target) == pytest.approx(np.linalg.norm(expected - target, axis=-1).mean())


def test_prediction_horizons_and_zero_velocity():
    assert horizon_frames(25) == {80: 2, 160: 4, 320: 8, 400: 10}
    assert horizon_frames(50)[400] == 20
    # a joint set moving at constant velocity v per frame: zero velocity errs k * |v| at frame k
    v = np.array([0.0, 0.01, 0.0])
    history = np.zeros((8, 17, 3)) + np.arange(8)[:, None, None] * v
    future = 7 * v + np.arange(1, 11)[:, None, None] * v + np.zeros((10, 17, 3))
    pred = zero_velocity_prediction(history, 10)
    assert pred.shape == (10, 17, 3)
    errors = prediction_errors(pred, future, fps=25)
    assert errors == {h: pytest.approx(k * 0.01) for h, k in horizon_frames(25).items()}
    assert set(prediction_errors(pred[:5], future[:5], fps=25)) == {80, 160}


def test_inbetweening_linear_interpolation():
    T = 16
    t = np.arange(T, dtype=float)
    motion = np.stack([np.stack([t * 0.1, t ** 2 * 0.01, np.ones(T)], -1)] * 5, 1)  # (T, 5, 3)
    missing = np.zeros(T, bool)
    missing[4:12] = True
    filled = linear_interpolation(motion, missing)
    np.testing.assert_allclose(filled[~missing], motion[~missing])
    np.testing.assert_allclose(filled[missing, 0, 0], t[missing] * 0.1)  # linear coordinate: exact
    expected_y = np.interp(t[missing], t[~missing], motion[~missing, 0, 1])
    np.testing.assert_allclose(filled[missing, 0, 1], expected_y)
    err = inbetween_error(filled, motion, missing)
    assert err == pytest.approx(np.abs(expected_y - motion[missing, 0, 1]).mean())
    assert inbetween_error(motion + 1.0, motion, np.zeros(T, bool) | (t == 3)) == pytest.approx(np.sqrt(3))
    batch = linear_interpolation(np.stack([motion, motion * 2]), np.stack([missing, missing]))
    np.testing.assert_allclose(batch[1], linear_interpolation(motion * 2, missing))
