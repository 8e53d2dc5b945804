"""User-defined formats with several roots (#15): a forest of disconnected parts, here the 8 arm and hand joints
of N-UCLA's kinect_v1 (two chains, no torso), validated, serialised, normalised, view-aligned, converted by
joint name and written to / read from BVH on real clips."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hf_skeleton as hs
from hf_skeleton.dataset_tools import format_from_json
from hf_skeleton.errors import SkeletonFormatError
from hf_skeleton.skeletons import geometry
from hf_skeleton.skeletons import transforms as tf
from hf_skeleton.testing import NUCLA_ARMS as ARMS
from hf_skeleton.testing import nucla_arms_format_dict

CLIPS = ("a01_s01_e00_v01", "a06_s09_e02_v01", "a08_s04_e01_v02")


def arms_format() -> hs.SkeletonFormat:
    """The arms of kinect_v1 as a forest: each shoulder roots its own chain."""
    return hs.SkeletonFormat.from_dict(nucla_arms_format_dict("nucla_arms_forest"))


@pytest.fixture(scope="module")
def arm_clips(nucla_dir):
    fmt = arms_format()
    return [hs.load_skeleton(nucla_dir / f"{name}.json").to_format(fmt) for name in CLIPS]


# ---------------------------------------------------------------------- the format itself
def test_a_forest_is_a_valid_format_with_its_roots_and_bones():
    fmt = arms_format()
    assert fmt.roots == (0, 4) and not fmt.is_tree and hs.get_format("kinect_v1").is_tree
    assert fmt.num_bones == 6 and fmt.bones == ((0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (6, 7))
    assert fmt.components() == [(0, 1, 2, 3), (4, 5, 6, 7)]
    assert fmt.topological_order()[:2] == [0, 4]
    with pytest.raises(SkeletonFormatError, match="no single root") as info:
        _ = fmt.root
    assert info.value.field == "parents" and "left_shoulder" in str(info.value)
    assert hs.get_format("kinect_v1").root == 0 and hs.get_format("kinect_v1").roots == (0,)


@pytest.mark.parametrize("parents, message", [
    ([-1, 0, 1, 2, -1, 4, 6, 6], "own parent"),     # joint 6 its own parent
    ([-1, 0, 1, 2, 7, 4, 5, 6], "cycle"),           # the right chain loops: 4 -> 7 -> 6 -> 5 -> 4
    ([3, 0, 1, 2, 7, 4, 5, 6], "at least one root"),  # no root at all
    ([-1, 0, 1, 2, -1, 4, 5, 8], "parent 8"),
])
def test_forest_validation_keeps_every_other_check(parents, message):
    data = {**arms_format().to_dict(), "parents": parents}
    with pytest.raises(SkeletonFormatError, match=message) as info:
        hs.SkeletonFormat.from_dict(data)
    assert info.value.field == "parents"


def test_forest_round_trips_through_dict_config_and_format_json(tmp_path):
    fmt = arms_format()
    assert hs.SkeletonFormat.from_dict(json.loads(json.dumps(fmt.to_dict()))) == fmt
    assert hs.skeletons.formats.format_for_config(fmt) == fmt.to_dict()  # unregistered: travels whole
    path = tmp_path / "arms.json"
    path.write_text(json.dumps(fmt.to_dict(), indent=1))
    assert format_from_json(path) == fmt


# ---------------------------------------------------------------------- normalisation
def test_centre_is_the_mean_of_the_roots_and_scale_the_forest_bones(arm_clips):
    fmt = arms_format()
    for seq in arm_clips:
        assert seq.mask[0, 0].all()
        shoulders = seq.positions[0, 0, [0, 4]].astype(np.float64).mean(0)
        ref, found = tf.root_positions(seq)
        assert found.all()
        np.testing.assert_allclose(ref[0], shoulders, atol=1e-6)
        lengths = [np.linalg.norm(seq.positions[t, 0, c] - seq.positions[t, 0, p])
                   for t in range(seq.num_frames) for p, c in fmt.bones]
        assert tf.median_bone_length(seq) == pytest.approx(float(np.median(lengths)), rel=1e-5)
        norm = tf.normalize(seq)
        np.testing.assert_allclose(norm.positions[0, 0, [0, 4]].mean(0), 0, atol=1e-5)
        assert np.median(tf.bone_lengths(norm)) == pytest.approx(1.0, rel=1e-4)
        per = tf.normalize(seq, center="per_frame")
        np.testing.assert_allclose(per.positions[:, 0, [0, 4]].mean(1), 0, atol=1e-5)
        np.testing.assert_allclose(tf.denormalize(norm).positions, seq.positions, atol=1e-5)


def test_a_frame_missing_a_root_falls_back_to_its_observed_joints(arm_clips):
    seq = arm_clips[0].copy()
    seq.mask[0, 0, 4] = False  # the right shoulder, one of the two roots
    seq.positions[0, 0, 4] = 0
    ref, found = tf.root_positions(seq)
    assert found.all()
    np.testing.assert_allclose(ref[0], seq.positions[0, 0][seq.mask[0, 0]].mean(0), atol=1e-6)
    np.testing.assert_allclose(ref[1], seq.positions[1, 0, [0, 4]].mean(0), atol=1e-6)


# ---------------------------------------------------------------------- view alignment
def test_upright_falls_back_to_facing_and_says_the_format_has_no_hips(arm_clips):
    seq = arm_clips[1]
    up = tf.normalize(seq, align_view="upright")
    facing = tf.normalize(seq, align_view="facing")
    source = up.meta["transforms"][-1]["view_source"]
    assert source.startswith("mirror pairs") and "has no left_hip, right_hip" in source
    np.testing.assert_allclose(up.positions, facing.positions, atol=1e-6)
    # facing really turned the body: the left shoulder ends on -x (facing the sensor, y up, looking down +z)
    assert facing.meta["transforms"][-1]["rotation"] != np.eye(3).tolist()
    assert facing.positions[0, 0, 0, 0] < facing.positions[0, 0, 4, 0]


def test_a_processor_refuses_an_alignment_the_format_cannot_support():
    fmt = arms_format()
    assert geometry.supported_view_alignment(fmt, "upright") == "facing"
    assert geometry.supported_view_alignment(hs.get_format("kinect_v1"), "upright") == "upright"
    with pytest.raises(SkeletonFormatError, match="left_hip, right_hip") as info:
        hs.SkeletonProcessor(format=fmt, align_view="upright")
    assert info.value.field == "joints" and "align_view='facing'" in str(info.value)
    hs.SkeletonProcessor(format=fmt, align_view="facing")  # what it has suffices
    hs.SkeletonProcessor(format=fmt, align_view="upright", normalization="box")  # box ignores align_view
    chains = hs.SkeletonFormat.from_dict({**fmt.to_dict(), "name": "no_pairs", "mirror_pairs": []})
    with pytest.raises(SkeletonFormatError, match="mirror pairs") as info:
        hs.SkeletonProcessor(format=chains, align_view="facing")
    assert info.value.field == "mirror_pairs" and "align_view='none'" in str(info.value)
    with pytest.raises(SkeletonFormatError, match="2D") as info:
        hs.SkeletonProcessor(format="coco17", align_view="facing")
    assert info.value.field == "dims"


def test_a_processor_prepares_kinect_clips_as_arms(nucla_dir, arm_clips):
    proc = hs.SkeletonProcessor(format=arms_format(), align_view="facing", max_frames=None)
    prepared = proc.prepare(nucla_dir / f"{CLIPS[0]}.json")
    assert prepared.format == arms_format() and prepared.mask.all()
    np.testing.assert_allclose(prepared.positions, tf.normalize(arm_clips[0], align_view="facing").positions,
                               atol=1e-6)


# ---------------------------------------------------------------------- conversion and BVH
def test_conversion_by_joint_name_to_and_from_the_forest(nucla_dir):
    seq = hs.load_skeleton(nucla_dir / f"{CLIPS[0]}.json")
    arms = seq.to_format(arms_format())
    k1 = hs.get_format("kinect_v1")
    idx = [k1.index(j) for j in ARMS]
    np.testing.assert_array_equal(arms.positions, seq.positions[:, :, idx])
    assert arms.meta["conversion"]["missing"] == []
    back = arms.to_format("kinect_v1")
    assert back.mask[:, :, idx].all() and not back.mask[:, :, [k1.index("pelvis"), k1.index("left_knee")]].any()
    np.testing.assert_array_equal(back.positions[:, :, idx], seq.positions[:, :, idx])


def test_bvh_writes_one_root_block_per_part_and_reads_it_back(arm_clips, tmp_path):
    seq = arm_clips[2]
    path = hs.save_skeleton(seq, tmp_path / "arms.bvh")
    text = path.read_text()
    assert text.count("ROOT ") == 2 and "ROOT left_shoulder" in text and "ROOT right_shoulder" in text
    back = hs.load_skeleton(path)
    assert back.format.roots == (0, 4) and set(back.format.joints) == set(ARMS)
    order = [back.format.index(j) for j in ARMS]
    np.testing.assert_allclose(back.positions[:, :, order], seq.positions, atol=1e-4)
