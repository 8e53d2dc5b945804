"""load_skeleton and the readers of real recordings: N-UCLA JSON, CMU BVH, HumanML3D."""

from __future__ import annotations

import collections
import shutil

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonFileError, SkeletonInputError
from hf_skeleton.skeletons.readers.bvh import parse_hierarchy
from hf_skeleton.skeletons.readers.nucla import NUCLA_ACTION_IDS, NUCLA_ACTIONS


# ---------------------------------------------------------------------- N-UCLA
@pytest.fixture(scope="module")
def nucla_all(nucla_dir):
    files = sorted(nucla_dir.glob("*.json"))
    return files, [hs.load_skeleton(f) for f in files]


def test_nucla_every_clip_loads(nucla_all):
    files, seqs = nucla_all
    assert len(files) == 1484
    for f, s in zip(files, seqs):
        assert s.format.name == "kinect_v1" and s.fps == 30
        assert s.positions.dtype == np.float32 and s.positions.shape[1:] == (1, 20, 3)
        assert s.mask.shape == s.positions.shape[:3] and s.mask.dtype == bool
        assert 1 <= s.meta["label"] <= 10
        # label and the aNN prefix agree through the documented action list
        assert NUCLA_ACTION_IDS[s.meta["label"] - 1] == s.meta["action_id"] == int(f.stem[1:3])
        assert s.meta["label_name"] == NUCLA_ACTIONS[s.meta["label"] - 1]
        assert s.meta["source"] == str(f) and s.meta["reader"] == "nucla"


def test_nucla_views_and_shortest_clip(nucla_all):
    _, seqs = nucla_all
    views = collections.Counter(s.meta["view"] for s in seqs)
    assert dict(views) == {1: 516, 2: 504, 3: 464}
    shortest = min(seqs, key=lambda s: s.num_frames)
    assert shortest.num_frames == 1 and shortest.mask.all()
    assert max(s.num_frames for s in seqs) == 201


def test_nucla_values_match_the_json(nucla_dir):
    import json

    f = nucla_dir / "a04_s02_e01_v03.json"
    raw = np.asarray(json.loads(f.read_text())["skeletons"], np.float32)
    s = hs.load_skeleton(f)
    np.testing.assert_array_equal(s.positions[:, 0], raw)
    assert (s.meta["subject"], s.meta["episode"], s.meta["view"]) == (2, 1, 3)
    assert s.meta["label_name"] == "walk around"


# ---------------------------------------------------------------------- CMU BVH
@pytest.fixture(scope="module")
def cmu_all(cmu_dir):
    files = sorted(cmu_dir.glob("*.bvh"))
    return files, [hs.load_skeleton(f) for f in files]


def test_bvh_every_cmu_file_keeps_bone_lengths(cmu_all):
    files, seqs = cmu_all
    assert len(files) == 58
    for f, s in zip(files, seqs):
        assert s.mask.all(), f
        assert s.orientations.shape == s.positions.shape[:3] + (3, 3)
        pos = s.positions[:, 0].astype(np.float64)
        for p, c in s.format.bones:
            length = np.linalg.norm(pos[:, c] - pos[:, p], axis=-1)
            if length.max() < 1e-6:  # zero offsets in the file (ASF-style hip joints)
                continue
            spread = (length.max() - length.min()) / length.mean()
            assert spread < 1e-4, (f.name, s.format.joints[c], spread)


def test_bvh_global_rotation_matches_scipy_composition(cmu_dir):
    """Orientation of lHand = product of single-axis scipy rotations down the chain, per channel order."""
    f = cmu_dir / "02_01.bvh"
    s = hs.load_skeleton(f)
    lines = f.read_text().splitlines()
    motion = lines.index("MOTION")
    h = parse_hierarchy(f, lines[:motion])
    values = np.loadtxt(lines[motion + 3:motion + 3 + 50])
    starts = np.cumsum([0] + [len(c) for c in h.channels])
    j = h.names.index("lHand")
    chain = []
    while j >= 0:
        chain.append(j)
        j = h.parents[j]
    for t in (0, 17, 49):
        total = Rotation.identity()
        for k in reversed(chain):
            for n, ch in enumerate(h.channels[k]):
                if ch.endswith("rotation"):
                    total = total * Rotation.from_euler(ch[0], values[t, starts[k] + n], degrees=True)
        np.testing.assert_allclose(s.orientations[t, 0, h.names.index("lHand")], total.as_matrix(), atol=1e-5)
    # and the hip position is the root's position channels
    np.testing.assert_allclose(s.positions[:50, 0, 0], values[:, :3], rtol=1e-6)


def test_bvh_format_parts_mirror_labels_units(cmu_all):
    files, seqs = cmu_all
    s = seqs[[f.stem for f in files].index("02_01")]
    fmt = s.format
    j = fmt.joints
    assert len(j) == 43 and j[0] == "hip" and fmt.parents[0] == -1
    parts = fmt.part_of()
    assert parts[j.index("lShldr")] == "left_arm" and parts[j.index("rForeArm")] == "right_arm"
    assert parts[j.index("lThigh")] == "left_leg" and parts[j.index("rFoot")] == "right_leg"
    assert parts[j.index("chest")] == "torso" and parts[j.index("leftEye")] == "torso"
    pairs = {(j[a], j[b]) for a, b in fmt.mirror_pairs}
    assert {("lShldr", "rShldr"), ("lThigh", "rThigh"), ("leftEye", "rightEye")} <= pairs
    assert s.fps == 120 and s.meta["units"] == "cm" and fmt.units == "cm"
    assert s.meta["label_name"] == "various expressions and human behaviors" and s.meta["text"] == "walk"
    # every hierarchy in the folder: each joint in exactly one part (SkeletonFormat validates it)
    asf = seqs[[f.stem for f in files].index("16_01")].format
    assert asf.part_of()[asf.joints.index("lfemur")] == "left_leg"
    assert asf.part_of()[asf.joints.index("rhumerus")] == "right_arm"
    assert asf.part_of()[asf.joints.index("lowerback")] == "torso"
    # files with the same hierarchy share one format
    assert sum(x.format == fmt for x in seqs) == 56


def test_bvh_scale_end_sites_and_no_labels(cmu_dir, tmp_path):
    f = cmu_dir / "02_01.bvh"
    base = hs.load_skeleton(f)
    m = hs.load_skeleton(f, scale=0.01)
    np.testing.assert_allclose(m.positions, base.positions * 0.01, rtol=1e-5, atol=1e-6)
    assert m.meta["units"] == "m"
    e = hs.load_skeleton(f, end_sites=True)
    ends = [n for n in e.format.joints if n.endswith("_end")]
    assert len(ends) == e.num_joints - 43 > 0
    # End Site of leftEye: OFFSET 1 0 0 in the eye's frame
    k, eye = e.format.joints.index("leftEye_end"), e.format.joints.index("leftEye")
    expected = e.positions[:, 0, eye] + e.orientations[:, 0, eye] @ np.array([1.0, 0, 0], np.float32)
    np.testing.assert_allclose(e.positions[:, 0, k], expected, atol=1e-3)
    alone = tmp_path / "02_01.bvh"
    shutil.copy(f, alone)
    s = hs.load_skeleton(alone)
    assert "label_name" not in s.meta and s.meta["subject"] == 2


# ---------------------------------------------------------------------- HumanML3D
def test_humanml3d_sample(humanml3d_dir):
    s = hs.load_skeleton(humanml3d_dir / "new_joints" / "012314.npy")
    assert s.format.name == "smpl22" and s.fps == 20 and s.positions.shape == (170, 1, 22, 3)
    raw = np.load(humanml3d_dir / "new_joints" / "012314.npy")
    np.testing.assert_array_equal(s.positions[:, 0], raw)
    assert "text" not in s.meta  # the sample ships no texts/ folder
    assert s.meta["split"] == "train" and s.meta["id"] == "012314"


def test_humanml3d_texts_in_official_layout(humanml3d_dir, tmp_path):
    (tmp_path / "new_joints").mkdir()
    (tmp_path / "texts").mkdir()
    shutil.copy(humanml3d_dir / "new_joints" / "012314.npy", tmp_path / "new_joints")
    (tmp_path / "texts" / "012314.txt").write_text(
        "a person walks forward.#a/DET person/NOUN walk/VERB forward/ADV#0.0#0.0\n"
        "someone steps ahead then stops#someone/PRON step/VERB#1.5#4.0\n")
    s = hs.load_skeleton(tmp_path / "new_joints" / "012314.npy")
    assert s.meta["text"] == "a person walks forward."
    assert [t["caption"] for t in s.meta["texts"]] == ["a person walks forward.", "someone steps ahead then stops"]
    assert (s.meta["texts"][1]["start"], s.meta["texts"][1]["end"]) == (1.5, 4.0)
    assert "split" not in s.meta


def test_humanml3d_feature_vectors_are_refused(humanml3d_dir):
    with pytest.raises(SkeletonFileError, match="22 joints"):
        hs.load_skeleton(humanml3d_dir / "new_joint_vecs" / "012314.npy", format="humanml3d")


# ---------------------------------------------------------------------- dispatch
def test_unknown_extension_lists_supported(tmp_path):
    f = tmp_path / "clip.xyz"
    f.write_text("1 2 3")
    with pytest.raises(SkeletonFileError) as e:
        hs.load_skeleton(f)
    assert e.value.path == str(f) and ".bvh" in str(e.value) and ".json" in str(e.value)


def test_missing_file_and_bad_format_name(tmp_path):
    with pytest.raises(SkeletonFileError, match="existing file"):
        hs.load_skeleton(tmp_path / "nope.bvh")
    f = tmp_path / "a.npy"
    np.save(f, np.zeros((4, 25, 3), np.float32))
    with pytest.raises(SkeletonInputError, match="reader name"):
        hs.load_skeleton(f, format="no_such_thing")


def test_unknown_reader_option_is_a_typed_error(cmu_dir):
    with pytest.raises(SkeletonInputError, match="scale"):
        hs.load_skeleton(cmu_dir / "02_01.bvh", fps=60)


def test_plain_array_needs_format_and_format_converts(tmp_path, nucla_dir):
    f = tmp_path / "clip.npy"
    arr = np.random.default_rng(0).normal(size=(6, 25, 3)).astype(np.float32)
    np.save(f, arr)
    with pytest.raises(SkeletonFileError, match="format="):
        hs.load_skeleton(f)
    s = hs.load_skeleton(f, format="kinect_v2", fps=15)
    np.testing.assert_array_equal(s.positions[:, 0], arr)
    assert s.fps == 15 and s.meta["reader"] == "array"
    # a reader whose file names its own layout converts to a requested format by joint names
    n = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json", format="kinect_v2")
    assert n.format.name == "kinect_v2" and "left_hand_tip" in n.meta["conversion"]["missing"]


def test_npz_with_mask_and_fps(tmp_path):
    f = tmp_path / "clip.npz"
    pos = np.ones((5, 2, 17, 3), np.float32)
    mask = np.ones((5, 2, 17), bool)
    mask[2, 1] = False
    np.savez(f, positions=pos, mask=mask, fps=np.array(50.0))
    s = hs.load_skeleton(f, format="h36m17")
    assert s.fps == 50 and s.num_persons == 2 and not s.mask[2, 1].any() and s.mask.sum() == mask.sum()


def test_pickled_npy_is_refused(tmp_path):
    f = tmp_path / "evil.npy"
    np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SkeletonFileError, match="pickle"):
        hs.load_skeleton(f, format="kinect_v2")


def test_register_reader_and_list(tmp_path):
    def read_csv(path, *, format=None):
        arr = np.loadtxt(path, delimiter=",", ndmin=2).reshape(-1, 17, 3)
        return hs.SkeletonSequence(positions=arr, format=format or "h36m17")

    hs.register_reader("csv_test", ".csvt", read_csv, overwrite=True)
    assert hs.list_readers()["csv_test"] == (".csvt",)
    f = tmp_path / "a.csvt"
    np.savetxt(f, np.arange(2 * 51, dtype=float).reshape(2, 51), delimiter=",")
    s = hs.load_skeleton(f)
    assert s.num_frames == 2 and s.meta["reader"] == "csv_test"
    np.testing.assert_array_equal(s.positions[:, 0], np.arange(2 * 51, dtype=np.float32).reshape(2, 17, 3))
    for name in ("nucla", "bvh", "humanml3d", "array"):
        assert name in hs.list_readers()
