"""AMASS SMPL-H .npz: without body model files a clear error; with a (synthetic, valid) body model the
joints equal an independent forward kinematics (4x4 transforms per frame, scipy rotations)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonFileError

SMPLH_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19]
for wrist in (20, 21):  # 15 finger joints per hand: 5 chains of 3 from the wrist
    for _ in range(5):
        SMPLH_PARENTS += [wrist, len(SMPLH_PARENTS), len(SMPLH_PARENTS) + 1]


def _body_model(path, V=40, S=16, seed=0):
    rng = np.random.default_rng(seed)
    J = len(SMPLH_PARENTS)
    reg = rng.random((J, V))
    reg /= reg.sum(1, keepdims=True)
    tree = np.stack([np.array(SMPLH_PARENTS, np.int64) % 2**32, np.arange(J)])  # root parent 4294967295
    np.savez(path, J_regressor=reg, kintree_table=tree, v_template=rng.normal(size=(V, 3)),
             shapedirs=rng.normal(scale=0.01, size=(V, 3, S)), f=np.zeros((3, 3), np.int32))
    return path


def _motion(path, T=6, seed=1, gender="female"):
    rng = np.random.default_rng(seed)
    np.savez(path, poses=rng.normal(scale=0.4, size=(T, 156)), betas=rng.normal(size=16), trans=rng.normal(size=(T, 3)),
             gender=np.array(gender), mocap_framerate=np.array(120.0), dmpls=np.zeros((T, 8)))
    return path


def _reference_joints(model_file, motion_file):
    """SMPL's batch_rigid_transform, frame by frame, with 4x4 matrices."""
    m, a = np.load(model_file), np.load(motion_file)
    betas = a["betas"]
    rest = m["J_regressor"] @ (m["v_template"] + m["shapedirs"] @ betas)
    out = []
    for pose, trans in zip(a["poses"], a["trans"]):
        rots = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix()
        world = []
        for j, p in enumerate(SMPLH_PARENTS):
            local = np.eye(4)
            local[:3, :3] = rots[j]
            local[:3, 3] = rest[j] - (rest[p] if p >= 0 else 0)
            world.append(local if p < 0 else world[p] @ local)
        out.append(np.array([w[:3, 3] for w in world]) + trans)
    return np.array(out)


def test_without_body_model_the_error_says_what_is_needed(tmp_path):
    f = _motion(tmp_path / "walk_poses.npz")
    with pytest.raises(SkeletonFileError) as e:
        hs.load_skeleton(f)
    msg = str(e.value)
    assert e.value.field == "poses" and "SMPL-H" in msg and "body_model_dir" in msg and "mano" in msg


def test_joints_match_independent_forward_kinematics(tmp_path):
    (tmp_path / "female").mkdir()
    model = _body_model(tmp_path / "female" / "model.npz")  # AMASS's layout: <gender>/model.npz
    motion = _motion(tmp_path / "walk_poses.npz")
    seq = hs.load_skeleton(motion, body_model_dir=tmp_path)
    assert seq.meta["reader"] == "amass" and seq.format.name == "smpl22" and seq.fps == 120
    assert seq.meta["gender"] == "female"
    ref = _reference_joints(model, motion)[:, :22]
    y_up = np.stack([-ref[..., 0], ref[..., 2], ref[..., 1]], axis=-1)  # HumanML3D's (x, y, z) -> (-x, z, y)
    np.testing.assert_allclose(seq.positions[:, 0], y_up, atol=1e-5)
    z_up = hs.load_skeleton(motion, body_model_dir=model, y_up=False)  # a model file directly
    np.testing.assert_allclose(z_up.positions[:, 0], ref, atol=1e-5)


def test_model_folder_layouts_and_gender_fallback(tmp_path):
    _body_model(tmp_path / "SMPLH_NEUTRAL.npz")
    seq = hs.load_skeleton(_motion(tmp_path / "m.npz", gender="male"), body_model_dir=tmp_path)
    assert seq.positions.shape == (6, 1, 22, 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SkeletonFileError, match="male/model.npz") as e:
        hs.load_skeleton(_motion(tmp_path / "m.npz", gender="male"), body_model_dir=tmp_path / "empty")
    assert e.value.field == "body_model_dir"


def test_bad_body_model_and_pose_widths_are_typed(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, J_regressor=np.zeros((52, 10)), v_template=np.zeros((10, 3)), shapedirs=np.zeros((10, 3, 4)))
    with pytest.raises(SkeletonFileError, match="kintree_table"):
        hs.load_skeleton(_motion(tmp_path / "m.npz"), body_model_dir=bad)
    model = _body_model(tmp_path / "model.npz")
    short = tmp_path / "short.npz"
    np.savez(short, poses=np.zeros((4, 66)), trans=np.zeros((4, 3)), betas=np.zeros(10))
    with pytest.raises(SkeletonFileError, match="156") as e:
        hs.load_skeleton(short, body_model_dir=model, fps=30)
    assert e.value.field == "poses"
