import numpy as np
import pytest

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonFormatError, SkeletonInputError


@pytest.mark.parametrize("name,joints,bones", [("kinect_v2", 25, 24), ("kinect_v1", 20, 19), ("smpl22", 22, 21),
                                               ("h36m17", 17, 16), ("coco17", 17, 16), ("openpose25", 25, 24),
                                               ("body25b", 25, 24), ("blazepose33", 33, 32)])
def test_builtin_formats(name, joints, bones):
    fmt = hs.get_format(name)
    assert fmt.num_joints == joints and len(fmt.bones) == bones
    covered = sorted(i for ids in fmt.parts.values() for i in ids)
    assert covered == list(range(joints))
    perm = fmt.mirror_permutation()
    assert sorted(perm) == list(range(joints)) and [perm[p] for p in perm] == list(range(joints))
    for a, b in fmt.mirror_pairs:
        assert fmt.joints[a].replace("left_", "") == fmt.joints[b].replace("right_", "")
    assert hs.SkeletonFormat.from_dict(fmt.to_dict()) == fmt


def test_h36m_parts_match_superman():
    fmt = hs.get_format("h36m17")
    assert fmt.parts["torso"] == (0, 7, 8, 9, 10) and fmt.parts["left_leg"] == (4, 5, 6)


@pytest.mark.parametrize("kwargs,field", [
    (dict(joints=["a", "b"], parents=[1, 0]), "parents"),  # no root (several roots are a valid forest)
    (dict(joints=["a", "b"], parents=[-1]), "parents"),
    (dict(joints=["a", "a"], parents=[-1, 0]), "joints"),
    (dict(joints=["a", "b", "c"], parents=[-1, 2, 1]), "parents"),
    (dict(joints=["a", "b"], parents=[-1, 5]), "parents"),
    (dict(joints=["a", "b"], parents=[-1, 0], parts={"torso": [0]}), "parts"),
    (dict(joints=["a", "b"], parents=[-1, 0], mirror_pairs=[(0, 0)]), "mirror_pairs"),
    (dict(joints=["a", "b"], parents=[-1, 0], up_axis="w"), "up_axis"),
])
def test_invalid_formats_raise_typed_errors(kwargs, field):
    with pytest.raises(SkeletonFormatError) as err:
        hs.SkeletonFormat(name="bad", **kwargs)
    assert err.value.field == field and "bad" in str(err.value)


def test_user_format_registers_and_roundtrips():
    fmt = hs.SkeletonFormat("stick3", ["root", "left_hand", "right_hand"], [-1, 0, 0],
                            parts={"torso": [0], "left_arm": [1], "right_arm": [2]}, mirror_pairs=[(1, 2)])
    hs.register_format(fmt)
    assert hs.get_format("stick3") is fmt
    with pytest.raises(SkeletonFormatError):
        hs.register_format(hs.SkeletonFormat("stick3", ["a"], [-1]))
    with pytest.raises(SkeletonFormatError, match="unknown format"):
        hs.get_format("no_such_format")


def test_sequence_masks_non_finite_and_checks_shapes():
    pos = np.random.default_rng(0).normal(size=(4, 1, 20, 3))
    pos[1, 0, 3] = np.nan
    seq = hs.SkeletonSequence(pos, fps=30, format="kinect_v1")
    assert seq.positions.dtype == np.float32 and seq.positions.shape == (4, 1, 20, 3)
    assert not seq.mask[1, 0, 3] and seq.mask.sum() == 4 * 20 - 1
    assert np.isfinite(seq.positions).all()
    with pytest.raises(SkeletonInputError, match="20 joints"):
        hs.SkeletonSequence(np.zeros((4, 19, 3)), format="kinect_v1")
    with pytest.raises(SkeletonInputError, match="fps"):
        hs.SkeletonSequence(np.zeros((4, 20, 3)), fps=0, format="kinect_v1")


def test_convert_masks_missing_joints_and_reports():
    rng = np.random.default_rng(1)
    seq = hs.SkeletonSequence(rng.normal(size=(3, 2, 25, 3)), fps=30, format="kinect_v2")
    coco = seq.to_format("coco17")
    assert coco.positions.shape == (3, 2, 17, 3)
    conv = coco.meta["conversion"]
    assert "nose" in conv["missing"] and "left_knee" in conv["copied"]
    nose = coco.format.index("nose")
    assert not coco.mask[..., nose].any() and (coco.positions[..., nose, :] == 0).all()
    knee_src, knee_dst = seq.format.index("left_knee"), coco.format.index("left_knee")
    np.testing.assert_array_equal(coco.positions[..., knee_dst, :], seq.positions[..., knee_src, :])
    v1 = seq.to_format("kinect_v1")
    assert v1.mask.all()  # every Kinect v1 joint name exists in Kinect v2
