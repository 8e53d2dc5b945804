"""BVH writer: rotations solved from positions, checked by reading the file back with our BVH reader
(forward kinematics over the written offsets and channels) and against scipy's rotation fits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonInputError
from hf_skeleton.skeletons.writers.bvh import fit_bvh, kabsch, shortest_arc


def _round_trip(seq, path, **options):
    back = hs.load_skeleton(hs.save_skeleton(seq, path, **options))
    assert sorted(back.format.joints) == sorted(seq.format.joints)
    idx = [back.format.joints.index(n) for n in seq.format.joints]
    return back, np.linalg.norm(back.positions[:, 0, idx] - seq.positions[:, 0], axis=-1)


def test_kabsch_matches_scipy_align_vectors():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(4, 3))
    dst = rng.normal(size=(20, 4, 3))
    ours = kabsch(src, dst)
    for t in range(20):
        ref, _ = Rotation.align_vectors(dst[t], src)
        np.testing.assert_allclose(ours[t], ref.as_matrix(), atol=1e-9)
    assert np.allclose(np.linalg.det(ours), 1.0)


def test_shortest_arc_turns_onto_the_target_about_their_common_normal():
    rng = np.random.default_rng(1)
    a = rng.normal(size=3)
    b = rng.normal(size=(30, 3))
    b[0] = -a * 2.0  # opposite: a half turn
    b[1] = a * 0.5  # same direction: identity
    R = shortest_arc(a, b)
    turned = R @ (a / np.linalg.norm(a))
    np.testing.assert_allclose(turned, b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-12)
    angles = Rotation.from_matrix(R).magnitude()
    cos = b @ a / np.linalg.norm(b, axis=1) / np.linalg.norm(a)
    np.testing.assert_allclose(angles, np.arccos(np.clip(cos, -1, 1)), atol=1e-7)  # the smallest angle
    np.testing.assert_allclose(R[1], np.eye(3), atol=1e-12)


def test_cmu_bvh_round_trips_with_rotations_only(cmu_dir, tmp_path):
    seq = hs.load_skeleton(cmu_dir / "02_01.bvh")
    back, err = _round_trip(seq, tmp_path / "cmu.bvh", exact=False)
    assert err.max() < 1e-4  # cm; a rigid hierarchy needs no position channels
    assert back.fps == seq.fps and back.num_frames == seq.num_frames
    text = (tmp_path / "cmu.bvh").read_text()
    assert text.count("Xposition") == 1  # the root only


def test_humanml3d_joints_round_trip_with_rotations_only(humanml3d_dir, tmp_path):
    seq = hs.load_skeleton(humanml3d_dir / "new_joints" / "012314.npy")
    _, err = _round_trip(seq, tmp_path / "h.bvh", exact=False)
    assert err.max() < 1e-4  # metres: SMPL joints are made by forward kinematics, pelvis/spine3 included


def test_kinect_clip_is_exact_with_position_channels_and_reports_the_rigid_error(nucla_dir, tmp_path):
    seq = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    _, exact = _round_trip(seq, tmp_path / "exact.bvh")
    assert exact.max() < 1e-4
    _, rigid = _round_trip(seq, tmp_path / "rigid.bvh", exact=False)
    fit = fit_bvh(seq.positions[:, 0], seq.format.parents, seq.format.joints, exact=False)
    np.testing.assert_allclose(rigid.max(axis=0), fit.rigid_error, atol=1e-4)  # the reported error is the error
    assert rigid.max() > 0.05  # Kinect bones stretch by tens of centimetres: no rigid skeleton fits


def _tree(T=40, seed=0):
    """A rigid 7-joint tree with a three-child root and a two-child chest, posed by random rotations."""
    names = ["hips", "spine", "chest", "l_arm", "r_arm", "l_leg", "r_leg"]
    parents = [-1, 0, 1, 2, 2, 0, 0]
    offsets = np.array([[0, 0, 0], [0, 0.3, 0], [0, 0.3, 0.05], [0.2, 0.1, 0], [-0.2, 0.1, 0], [0.1, -0.1, 0],
                        [-0.1, -0.1, 0]])
    rot = Rotation.random(T * 7, random_state=seed).as_matrix().reshape(T, 7, 3, 3)
    glob, pos = np.empty_like(rot), np.zeros((T, 7, 3))
    pos[:, 0] = np.random.default_rng(seed).normal(size=(T, 3))
    glob[:, 0] = rot[:, 0]
    for j in range(1, 7):
        p = parents[j]
        glob[:, j] = glob[:, p] @ rot[:, j]
        pos[:, j] = pos[:, p] + glob[:, p] @ offsets[j]
    fmt = hs.SkeletonFormat("tree7", names, parents)
    return hs.SkeletonSequence(positions=pos, fps=30, format=fmt)


def test_several_children_are_exact_when_their_layout_is_rigid(tmp_path):
    seq = _tree()
    fit = fit_bvh(seq.positions[:, 0], seq.format.parents, seq.format.joints, exact=False)
    assert fit.rigid_error.max() < 1e-5
    _, err = _round_trip(seq, tmp_path / "t.bvh", exact=False)
    assert err.max() < 1e-4


def test_several_children_whose_layout_changes(tmp_path):
    """One arm shifted in a quarter of the frames: the chest's one rotation cannot follow both arms. The
    rest layout (a median) is the usual one; rigid: the least-squares residual is shared by the two arms,
    each off by at most the shift; exact: position channels on the joints that need them, every
    position back within 1e-4."""
    seq = _tree()
    pos = seq.positions.copy()
    shift = 0.04
    pos[::4, 0, 3, 0] += shift  # l_arm moves (along x) relative to the chest in every fourth frame
    seq = hs.SkeletonSequence(positions=pos, fps=30, format=seq.format)
    fit = fit_bvh(seq.positions[:, 0], seq.format.parents, seq.format.joints, exact=False)
    assert fit.rigid_error[[0, 1, 2, 5, 6]].max() < 1e-5  # joints above and beside the chest stay exact
    assert 0.005 < fit.rigid_error[[3, 4]].max() < shift  # spread over both arms, less than the shift itself
    _, rigid = _round_trip(seq, tmp_path / "rigid.bvh", exact=False)
    np.testing.assert_allclose(rigid.max(axis=0), fit.rigid_error, atol=1e-4)
    _, exact = _round_trip(seq, tmp_path / "exact.bvh")
    assert exact.max() < 1e-4
    text = (tmp_path / "exact.bvh").read_text()
    assert text.count("Xposition") == 3  # the root and the two arms


def test_masked_joints_are_filled_and_persons_chosen(tmp_path):
    seq = _tree(T=10)
    mask = seq.mask.copy()
    mask[3:6, 0, 3] = False  # l_arm missing for three frames
    pos = np.concatenate([seq.positions, seq.positions + 1.0], axis=1)
    two = hs.SkeletonSequence(positions=pos, mask=np.concatenate([mask, mask], axis=1), fps=30, format=seq.format)
    with pytest.raises(SkeletonInputError, match="person="):
        hs.save_skeleton(two, tmp_path / "two.bvh")
    back = hs.load_skeleton(hs.save_skeleton(two, tmp_path / "second.bvh", person=1))
    i = back.format.joints.index("l_arm")
    observed = mask[:, 0, 3]
    np.testing.assert_allclose(back.positions[observed, 0, i], pos[observed, 1, 3], atol=1e-4)
    lerp = pos[2, 1, 3] + (pos[6, 1, 3] - pos[2, 1, 3]) * (4 - 2) / (6 - 2)  # frame 4 between frames 2 and 6
    np.testing.assert_allclose(back.positions[4, 0, i], lerp, atol=1e-4)


def test_whitespace_in_names_and_bad_options(tmp_path):
    fmt = hs.SkeletonFormat("spaced", ["root joint", "tip"], [-1, 0])
    seq = hs.SkeletonSequence(positions=np.random.default_rng(0).normal(size=(5, 2, 3)), fps=10, format=fmt)
    back = hs.load_skeleton(hs.save_skeleton(seq, tmp_path / "s.bvh"))
    assert back.format.joints == ("root_joint", "tip")
    with pytest.raises(SkeletonInputError, match="tolerance"):
        hs.save_skeleton(seq, tmp_path / "t.bvh", tolerance=-1)
