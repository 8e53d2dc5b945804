"""Conversion of BVH skeletons by joint name: the CMU namings reach the built-in formats."""

from __future__ import annotations

import numpy as np
import pytest

import hf_skeleton as hs
from hf_skeleton.skeletons.convert import VOCABULARY, canonical_joint_names, joint_name_convention, unit_scale

# target joint -> BVH joint whose head is that point, for the two CMU conversions in the data
POSER = {"pelvis": "hip", "left_hip": "lThigh", "right_hip": "rThigh", "left_knee": "lShin", "right_knee": "rShin",
         "left_ankle": "lFoot", "right_ankle": "rFoot", "left_shoulder": "lShldr", "right_shoulder": "rShldr",
         "left_elbow": "lForeArm", "right_elbow": "rForeArm", "left_wrist": "lHand", "right_wrist": "rHand",
         "neck": "neck", "head": "head"}
ASF = {"pelvis": "hip", "left_hip": "lfemur", "right_hip": "rfemur", "left_knee": "ltibia", "right_knee": "rtibia",
       "left_ankle": "lfoot", "right_ankle": "rfoot", "left_shoulder": "lhumerus", "right_shoulder": "rhumerus",
       "left_elbow": "lradius", "right_elbow": "rradius", "left_wrist": "lwrist", "right_wrist": "rwrist",
       "neck": "upperneck", "head": "head"}
# the same 31 ASF bones as the MotionBuilder conversion of CMU names them
ASF_TO_MOTIONBUILDER = {
    "hip": "Hips", "lhipjoint": "LHipJoint", "lfemur": "LeftUpLeg", "ltibia": "LeftLeg", "lfoot": "LeftFoot",
    "ltoes": "LeftToeBase", "rhipjoint": "RHipJoint", "rfemur": "RightUpLeg", "rtibia": "RightLeg",
    "rfoot": "RightFoot", "rtoes": "RightToeBase", "lowerback": "LowerBack", "upperback": "Spine",
    "thorax": "Spine1", "lowerneck": "Neck", "upperneck": "Neck1", "head": "Head", "lclavicle": "LeftShoulder",
    "lhumerus": "LeftArm", "lradius": "LeftForeArm", "lwrist": "LeftHand", "lhand": "LeftFingerBase",
    "lfingers": "LeftHandIndex1", "lthumb": "LThumb", "rclavicle": "RightShoulder", "rhumerus": "RightArm",
    "rradius": "RightForeArm", "rwrist": "RightHand", "rhand": "RightFingerBase", "rfingers": "RightHandIndex1",
    "rthumb": "RThumb"}


@pytest.mark.parametrize("name, table, scale", [("02_01.bvh", POSER, 0.01), ("16_01.bvh", ASF, 1.0)])
@pytest.mark.parametrize("target", ["h36m17", "smpl22", "kinect_v1"])
def test_cmu_bvh_converts_by_name_to_the_builtin_formats(cmu_dir, name, table, scale, target):
    seq = hs.load_skeleton(cmu_dir / name)
    out = seq.to_format(target)
    copied = set(out.meta["conversion"]["copied"])
    expected = set(table) & set(out.format.joints)
    assert expected <= copied, expected - copied
    # hips, knees, ankles, shoulders, elbows, wrists, pelvis, neck, head (Kinect v1 has no neck joint)
    assert len(expected) == {"h36m17": 15, "smpl22": 15, "kinect_v1": 14}[target]
    for joint in expected:
        src, dst = seq.format.index(table[joint]), out.format.index(joint)
        np.testing.assert_array_equal(out.positions[:, :, dst], seq.positions[:, :, src] * np.float32(scale))
        assert out.mask[:, :, dst].all()
    assert out.meta["conversion"].get("scale", 1.0) == scale
    assert out.meta["units"] == ("m" if scale != 1.0 else seq.meta["units"])


def test_h36m17_gets_every_joint_from_both_cmu_layouts(cmu_dir):
    for name, spine, thorax in (("02_01.bvh", "abdomen", "chest"), ("16_01.bvh", "upperback", "thorax")):
        seq = hs.load_skeleton(cmu_dir / name)
        out = seq.to_format("h36m17")
        assert out.meta["conversion"]["missing"] == [] and out.mask.all()
        for joint, bvh in (("spine", spine), ("thorax", thorax)):
            assert np.allclose(out.positions[:, 0, out.format.index(joint)],
                               seq.positions[:, 0, seq.format.index(bvh)] * unit_scale(seq.format, out.format))


def test_bvh_keeps_its_names_and_a_round_trip_restores_matched_joints(cmu_dir):
    seq = hs.load_skeleton(cmu_dir / "02_01.bvh")
    assert "lShldr" in seq.format.joints and "left_shoulder" not in seq.format.joints
    back = seq.to_format("h36m17").to_format(seq.format)
    assert back.format == seq.format and back.meta["units"] == "cm"
    for bvh in POSER.values():
        j = seq.format.index(bvh)
        np.testing.assert_allclose(back.positions[:, 0, j], seq.positions[:, 0, j], rtol=1e-5, atol=1e-4)
    fingers = seq.format.index("lThumb1")
    assert not back.mask[:, :, fingers].any()  # no counterpart in H36M: masked, not invented


def test_motionbuilder_names_of_the_same_file_convert_identically(cmu_dir, tmp_path):
    text = (cmu_dir / "16_01.bvh").read_text()
    renamed = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in ("ROOT", "JOINT"):
            line = line.replace(words[1], ASF_TO_MOTIONBUILDER[words[1]])
        renamed.append(line)
    (tmp_path / "16_01.bvh").write_text("\n".join(renamed) + "\n")
    asf, mb = hs.load_skeleton(cmu_dir / "16_01.bvh"), hs.load_skeleton(tmp_path / "16_01.bvh")
    assert "LeftUpLeg" in mb.format.joints and joint_name_convention(mb.format) == "cmu_motionbuilder"
    for target in ("h36m17", "smpl22", "kinect_v2"):
        a, b = asf.to_format(target), mb.to_format(target)
        assert a.meta["conversion"]["copied"] == b.meta["conversion"]["copied"]
        np.testing.assert_array_equal(a.positions, b.positions)


def test_mixamo_rig_names_and_namespaces():
    joints = ["mixamorig:Hips", "mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2", "mixamorig:Neck",
              "mixamorig:Head", "mixamorig:LeftShoulder", "mixamorig:LeftArm", "mixamorig:LeftForeArm",
              "mixamorig:LeftHand", "mixamorig:LeftUpLeg", "mixamorig:LeftLeg", "mixamorig:LeftFoot",
              "mixamorig:LeftToeBase"]
    parents = [-1, 0, 1, 2, 3, 4, 3, 6, 7, 8, 0, 10, 11, 12]
    fmt = hs.SkeletonFormat("mixamo_left", joints, parents)
    assert joint_name_convention(fmt) == "mixamo"
    assert canonical_joint_names(fmt) == (
        "pelvis", "spine1", "spine2", "spine3", "neck", "head", "left_collar", "left_shoulder", "left_elbow",
        "left_wrist", "left_hip", "left_knee", "left_ankle", "left_foot")
    seq = hs.SkeletonSequence(np.random.default_rng(0).normal(size=(3, 14, 3)), format=fmt)
    smpl = seq.to_format("smpl22")
    assert sorted(smpl.meta["conversion"]["missing"]) == sorted(
        j for j in hs.get_format("smpl22").joints if j.startswith("right_"))


def test_builtin_formats_are_not_aliased():
    checked = set()
    for name in hs.list_formats():
        fmt = hs.get_format(name)
        if set(fmt.joints) <= VOCABULARY:  # skips rigs other tests register
            assert joint_name_convention(fmt) is None and canonical_joint_names(fmt) == fmt.joints
            checked.add(name)
    assert checked >= {"blazepose33", "coco17", "h36m17", "kinect_v1", "kinect_v2", "openpose25",
                       "pose2sim21", "smpl22"}
    # Kinect's left_shoulder is a shoulder even though Mixamo's LeftShoulder is a collar bone
    corr = hs.skeletons.joint_correspondence(hs.get_format("kinect_v2"), hs.get_format("smpl22"))
    assert corr[hs.get_format("smpl22").index("left_shoulder")] == hs.get_format("kinect_v2").index("left_shoulder")


def test_alias_onto_a_name_the_format_already_has_is_not_applied():
    fmt = hs.SkeletonFormat("odd", ("pelvis", "hip", "lThigh", "lShin"), (-1, 0, 0, 2))
    assert canonical_joint_names(fmt) == ("pelvis", "hip", "left_hip", "left_knee")


def test_unit_scale_only_between_lengths():
    cm = hs.SkeletonFormat("cm_h36m", hs.get_format("h36m17").joints, hs.get_format("h36m17").parents, units="cm")
    assert unit_scale(cm, hs.get_format("h36m17")) == 0.01
    assert unit_scale(hs.get_format("coco17"), hs.get_format("openpose25")) == 1.0
    assert unit_scale(hs.get_format("h36m17"), hs.get_format("coco17")) == 1.0
