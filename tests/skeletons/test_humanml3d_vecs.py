"""HumanML3D 263-dim vectors: the reader against the released new_joints, the writer against the released
new_joint_vecs, the quaternion helpers against scipy."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonFileError, SkeletonInputError
from hf_skeleton.skeletons.readers.humanml3d_vecs import qinv, qrot, recover_from_ric, recover_root_rot_pos
from hf_skeleton.skeletons.writers.humanml3d_vecs import canonicalize, humanml3d_vectors, qbetween, qmul

CLIP = "012314.npy"
PARTS = {"root": (0, 4), "ric": (4, 67), "rot6d": (67, 193), "velocity": (193, 259), "feet": (259, 263)}


@pytest.fixture(scope="module")
def released(humanml3d_dir):
    return (np.load(humanml3d_dir / "new_joint_vecs" / CLIP), np.load(humanml3d_dir / "new_joints" / CLIP))


def test_quaternion_helpers_match_scipy():
    rng = np.random.default_rng(0)
    q = Rotation.random(50, random_state=1)
    wxyz = q.as_quat(scalar_first=True)
    v = rng.normal(size=(50, 3))
    np.testing.assert_allclose(qrot(wxyz, v), q.apply(v), atol=1e-12)
    np.testing.assert_allclose(qrot(qinv(wxyz), v), q.inv().apply(v), atol=1e-12)
    r = Rotation.random(50, random_state=2)
    np.testing.assert_allclose(Rotation.from_quat(qmul(wxyz, r.as_quat(scalar_first=True)), scalar_first=True)
                               .as_matrix(), (q * r).as_matrix(), atol=1e-12)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    turned = qrot(qbetween(a, b), a)
    np.testing.assert_allclose(turned / np.linalg.norm(turned, axis=1, keepdims=True),
                               b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-12)


def test_recovery_matches_released_new_joints(released, humanml3d_dir):
    vecs, joints = released
    recovered = recover_from_ric(vecs)
    err = np.linalg.norm(recovered - joints, axis=-1)
    assert err.max() < 1e-6, err.max()  # measured 2.1e-7 m: new_joints are this function in float32
    seq = hs.load_skeleton(humanml3d_dir / "new_joint_vecs" / CLIP)
    assert seq.meta["reader"] == "humanml3d_vecs" and seq.format.name == "smpl22" and seq.fps == 20
    assert seq.positions.shape == (170, 1, 22, 3) and seq.mask.all()
    np.testing.assert_allclose(seq.positions[:, 0], joints, atol=1e-6)
    assert seq.meta["split"] == "train" and seq.meta["id"] == "012314"
    assert seq.meta["rot6d"].shape == (170, 21, 6) and seq.meta["foot_contact"].shape == (170, 4)


def test_root_rotation_is_a_half_angle_about_y(released):
    vecs, _ = released
    quat, _ = recover_root_rot_pos(vecs)
    angle = np.concatenate([[0.0], np.cumsum(vecs[:-1, 0].astype(np.float64))])
    expected = Rotation.from_rotvec(np.outer(2 * angle, [0.0, 1.0, 0.0]))
    np.testing.assert_allclose(Rotation.from_quat(quat, scalar_first=True).as_matrix(), expected.as_matrix(),
                               atol=1e-9)


def test_sniffing_by_width_outside_the_official_folder(released, tmp_path):
    vecs, joints = released
    np.save(tmp_path / "motion.npy", vecs)
    seq = hs.load_skeleton(tmp_path / "motion.npy")
    assert seq.meta["reader"] == "humanml3d_vecs"
    np.testing.assert_allclose(seq.positions[:, 0], joints, atol=1e-6)
    np.save(tmp_path / "plain.npy", joints)  # (T, 22, 3) elsewhere is still a plain array
    with pytest.raises(SkeletonFileError, match="format="):
        hs.load_skeleton(tmp_path / "plain.npy")


@pytest.mark.parametrize("shape", [(10, 262), (10, 22, 3), (0, 263), (263,)])
def test_wrong_shapes_in_new_joint_vecs_are_typed(tmp_path, shape):
    (tmp_path / "new_joint_vecs").mkdir()
    f = tmp_path / "new_joint_vecs" / "x.npy"
    np.save(f, np.zeros(shape, np.float32))
    with pytest.raises(SkeletonFileError) as e:
        hs.load_skeleton(f)
    assert e.value.field == "shape" and "263" in e.value.expected and e.value.path == str(f)


def test_non_finite_values_mask_the_frames_they_reach(released, tmp_path):
    vecs, _ = released
    bad = vecs[:20].copy()
    bad[5, 10] = np.nan  # a ric value: that frame only
    bad[12, 1] = np.inf  # a root velocity: every later frame is unknowable
    np.save(tmp_path / "bad.npy", bad)
    seq = hs.load_skeleton(tmp_path / "bad.npy")
    observed = seq.mask[:, 0, 0]
    assert observed[:5].all() and not observed[5] and observed[6:13].all() and not observed[13:].any()
    assert np.isfinite(seq.positions).all()


def test_writer_reproduces_the_released_vectors(released):
    """The released vectors were computed from one more frame than new_joints keeps; its last local
    velocity gives that frame back, and from those 171 frames every one of the 263 dims is reproduced."""
    vecs, joints = released
    quat, _ = recover_root_rot_pos(vecs)
    last = joints[-1] + qrot(np.broadcast_to(qinv(quat[-1]), (22, 4)), vecs[-1, 193:259].reshape(22, 3))
    ours = humanml3d_vectors(np.concatenate([joints, last[None]]))
    assert ours.shape == vecs.shape
    tolerance = {"root": 1e-6, "ric": 1e-6, "rot6d": 5e-5, "velocity": 1e-6, "feet": 0.0}  # rot6d: float32 IK
    for name, (a, b) in PARTS.items():
        err = np.abs(ours[:, a:b] - vecs[:, a:b]).max()
        assert err <= tolerance[name], (name, err)
    corrected = humanml3d_vectors(np.concatenate([joints, last[None]]), faithful=False)
    assert np.abs(corrected[:, 4:67] - vecs[:, 4:67]).max() > 1e-2  # the quirks matter to the data


@pytest.mark.parametrize("faithful", [True, False])
def test_written_root_and_ric_round_trip_through_the_reader(released, tmp_path, faithful):
    _, joints = released
    rng = np.random.default_rng(0)
    turn = Rotation.from_euler("y", 70, degrees=True)
    moved = turn.apply(joints.reshape(-1, 3)).reshape(joints.shape) + np.array([1.5, 0.3, -2.0])
    moved += rng.normal(scale=1e-3, size=moved.shape)  # not a HumanML3D-made clip
    seq = hs.SkeletonSequence(positions=moved, fps=20, format="smpl22")
    out = hs.save_skeleton(seq, tmp_path / "clip.npy", faithful=faithful)
    raw = np.load(out, allow_pickle=False)
    assert raw.shape == (169, 263) and raw.dtype == np.float32
    back = hs.load_skeleton(out)
    expected = canonicalize(moved)[:-1]
    assert np.abs(back.positions[:, 0] - expected).max() < 1e-5
    assert np.abs(expected[..., 1].min()) < 1e-12 and np.abs(expected[0, 0, [0, 2]]).max() < 1e-12
    feet = raw[:, 259:]
    assert set(np.unique(feet)) <= {0.0, 1.0}


def test_other_rates_are_resampled_to_20_fps(released, tmp_path):
    _, joints = released
    seq = hs.SkeletonSequence(positions=joints, fps=40, format="smpl22")
    out = hs.save_skeleton(seq, tmp_path / "fast.npy")
    assert np.load(out).shape == (84, 263)  # 170 frames over 4.225 s at 20 fps: 85 frames, 84 vectors


def test_writer_refuses_formats_without_smpl_joints(nucla_dir, tmp_path):
    seq = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    with pytest.raises(SkeletonInputError, match="spine1"):
        hs.save_skeleton(seq, tmp_path / "x.npy")
    assert not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(SkeletonInputError, match="T >= 2"):
        hs.save_skeleton(hs.SkeletonSequence(positions=np.zeros((1, 22, 3)), fps=20, format="smpl22"),
                         tmp_path / "one.npy")


def test_official_layout_keeps_captions(humanml3d_dir, tmp_path):
    (tmp_path / "new_joint_vecs").mkdir()
    (tmp_path / "texts").mkdir()
    shutil.copy(humanml3d_dir / "new_joint_vecs" / CLIP, tmp_path / "new_joint_vecs")
    (tmp_path / "texts" / "012314.txt").write_text("a person walks.#a/DET person/NOUN walk/VERB#0.0#0.0\n")
    assert hs.load_skeleton(tmp_path / "new_joint_vecs" / CLIP).meta["text"] == "a person walks."
