import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonInputError
from hf_skeleton.skeletons import transforms as tf
from hf_skeleton.skeletons.geometry import body_facing, canonical_pose
from hf_skeleton.skeletons.synthetic import synthetic_clip


def _random_seq(T=12, P=2, fmt="kinect_v2", seed=0, drop=0.1, orientations=False):
    rng = np.random.default_rng(seed)
    J = hs.get_format(fmt).num_joints
    pos = rng.normal(0, 0.5, size=(T, P, J, 3)).astype(np.float32) + np.array([0.1, 0.9, 3.0], np.float32)
    mask = rng.random((T, P, J)) > drop
    ori = Rotation.random(T * P * J, random_state=seed).as_matrix().reshape(T, P, J, 3, 3) if orientations else None
    return hs.SkeletonSequence(positions=pos, mask=mask, fps=30, format=fmt, meta={"label": 3}, orientations=ori)


def _linear_seq(T=11, J=20, fmt="kinect_v1"):
    t = np.arange(T, dtype=np.float64)[:, None, None, None]
    base = np.random.default_rng(1).normal(size=(1, 1, J, 3))
    vel = np.random.default_rng(2).normal(size=(1, 1, J, 3))
    return hs.SkeletonSequence(positions=(base + vel * t).astype(np.float32), fps=10, format=fmt)


# ---------------------------------------------------------------- normalise
@pytest.mark.parametrize("center", ["first_frame", "per_frame", "none"])
@pytest.mark.parametrize("align", [False, True])
def test_normalize_denormalize_identity(center, align):
    seq = _random_seq(orientations=True)
    norm = tf.normalize(seq, center=center, align_view=align)
    assert norm.meta["transforms"][-1]["name"] == "normalize"
    json.dumps(norm.meta)  # records are JSON-friendly
    back = tf.denormalize(norm)
    np.testing.assert_allclose(back.positions, seq.positions, atol=2e-5)
    np.testing.assert_array_equal(back.mask, seq.mask)
    np.testing.assert_allclose(back.orientations, seq.orientations, atol=1e-5)
    assert back.meta == seq.meta


def test_normalize_statistics_ignore_masked_joints():
    seq = _random_seq(P=1, drop=0.0)
    polluted = seq.copy()
    polluted.positions[:, :, 5] = 1e6  # huge values in a masked joint must not change anything
    polluted.mask[:, :, 5] = False
    clean = seq.copy(mask=polluted.mask.copy())
    a, b = tf.normalize(polluted), tf.normalize(clean)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert a.meta["transforms"][-1]["scale"] == b.meta["transforms"][-1]["scale"]


def test_normalize_root_and_scale_exact():
    seq = synthetic_clip("walk", 20, seed=0)
    norm = seq.normalized(target_bone_length=2.0)
    root = seq.format.root
    np.testing.assert_allclose(norm.positions[0, 0, root], 0, atol=1e-6)
    assert abs(tf.median_bone_length(norm) - 2.0) < 1e-5
    per = seq.normalized(center="per_frame")
    np.testing.assert_allclose(per.positions[:, 0, root], 0, atol=1e-6)
    # first-frame centring keeps the motion: the root moves as in the original, scaled
    rec = norm.meta["transforms"][-1]
    np.testing.assert_allclose(norm.positions[:, 0, root] * rec["scale"],
                               seq.positions[:, 0, root] - seq.positions[0, 0, root], atol=1e-5)


def test_root_fallback_when_root_masked():
    seq = _random_seq(T=3, P=1, drop=0.0)
    seq.mask[0, 0, 0] = False
    seq.positions[0, 0, 0] = 0
    ref, found = tf.root_positions(seq)
    assert found.all()
    np.testing.assert_allclose(ref[0], seq.positions[0, 0, 1:].mean(0), atol=1e-5)
    np.testing.assert_allclose(ref[1], seq.positions[1, 0, 0], atol=1e-6)


def test_align_view_faces_camera_and_preserves_bone_lengths():
    seq = synthetic_clip("walk", 10)
    turned = tf.random_rotation(seq, 180, seed=3)  # yaw the body away from the camera
    fmt = seq.format
    aligned = tf.align_view(turned)
    hip = aligned.positions[0, 0, fmt.index("left_hip")] - aligned.positions[0, 0, fmt.index("right_hip")]
    # facing the camera (looking down +z, y up) the body's left points to -x
    assert hip[0] < 0
    # the body's facing (geometry.body_facing, the one DrAction's front view uses) is exactly -z
    facing, found = body_facing(*canonical_pose(aligned.positions.astype(np.float64), aligned.mask), fmt)
    assert found and np.allclose(facing, [0.0, 0.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(tf.bone_lengths(aligned), tf.bone_lengths(seq), rtol=1e-4)


def test_align_view_without_hips_falls_back():
    fmt = hs.SkeletonFormat("stick", joints=("a", "b", "c"), parents=(-1, 0, 1))
    seq = hs.SkeletonSequence(positions=np.random.default_rng(0).normal(size=(4, 3, 3)), format=fmt)
    out = tf.normalize(seq, align_view=True)
    assert out.meta["transforms"][-1]["rotation"] == np.eye(3).tolist()
    assert "no observed" in out.meta["transforms"][-1]["view_source"]


# ---------------------------------------------------------------- resample
def test_uniform_resample_of_linear_motion_is_exact():
    seq = _linear_seq(T=11)
    out = seq.resample(21)  # half-frame steps
    t = np.linspace(0, 10, 21)[:, None, None, None]
    expected = seq.positions[:1] + (seq.positions[1:2] - seq.positions[:1]) * t
    np.testing.assert_allclose(out.positions, expected, atol=1e-4)
    assert out.fps == pytest.approx(20.0)
    # the span from the first to the last frame is kept: (N - 1) / fps' == (T - 1) / fps
    assert (out.num_frames - 1) / out.fps == pytest.approx((seq.num_frames - 1) / seq.fps)
    down = seq.resample(6)
    np.testing.assert_allclose(down.positions, seq.positions[::2], atol=1e-5)
    assert down.fps == pytest.approx(5.0)


def test_uniform_resample_masks_and_orientations():
    seq = _random_seq(T=5, P=1, drop=0.0, orientations=True)
    seq.mask[2, 0, 3] = False
    seq.positions[2, 0, 3] = 0
    out = tf.resample(seq, 9)  # times 0, .5, 1, ..., 4
    assert not out.mask[4, 0, 3]  # exactly on the masked frame
    # t=1.5 rounds (half up) to the masked frame 2; t=1 and t=2.5 (-> frame 3) stay observed
    assert not out.mask[3, 0, 3] and out.mask[2, 0, 3] and out.mask[5, 0, 3]
    np.testing.assert_allclose(out.positions[5, 0, 3], seq.positions[3, 0, 3])
    np.testing.assert_array_equal(out.orientations[1], seq.orientations[1])  # t=0.5 -> nearest frame 1
    np.testing.assert_array_equal(out.orientations[4], seq.orientations[2])


def test_random_resample_is_seeded_and_segmented():
    seq = _random_seq(T=40, P=1)
    a = seq.resample(8, mode="random", seed=7)
    b = seq.resample(8, mode="random", seed=7)
    c = seq.resample(8, mode="random", seed=8)
    np.testing.assert_array_equal(a.positions, b.positions)
    idx = np.asarray(a.meta["transforms"][-1]["indices"])
    assert not np.array_equal(idx, c.meta["transforms"][-1]["indices"])
    assert np.all((idx >= np.arange(8) * 5) & (idx < np.arange(1, 9) * 5))  # one frame per segment
    np.testing.assert_array_equal(a.positions, seq.positions[idx])
    short = _random_seq(T=3, P=1).resample(8, mode="random", seed=0)
    assert short.num_frames == 8 and np.all(np.diff(short.meta["transforms"][-1]["indices"]) >= 0)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "8", True])
def test_resample_rejects_bad_frame_counts(bad):
    with pytest.raises(SkeletonInputError, match="num_frames"):
        tf.resample(_random_seq(), bad)
    with pytest.raises(SkeletonInputError, match="mode"):
        tf.resample(_random_seq(), 4, mode="cubic")


# ---------------------------------------------------------------- mirror
def test_mirror_twice_is_identity_and_swaps_pairs():
    seq = _random_seq(orientations=True)
    once = seq.mirrored()
    twice = once.mirrored()
    np.testing.assert_array_equal(twice.positions, seq.positions)
    np.testing.assert_array_equal(twice.mask, seq.mask)
    np.testing.assert_allclose(twice.orientations, seq.orientations, atol=1e-6)
    fmt = seq.format
    l, r = fmt.index("left_hand"), fmt.index("right_hand")
    np.testing.assert_array_equal(once.mask[:, :, l], seq.mask[:, :, r])
    np.testing.assert_allclose(once.positions[:, :, l, 0], -seq.positions[:, :, r, 0])
    np.testing.assert_allclose(once.positions[:, :, l, 1:], seq.positions[:, :, r, 1:])
    det = np.linalg.det(once.orientations.reshape(-1, 3, 3))
    np.testing.assert_allclose(det, 1.0, atol=1e-4)  # still proper rotations


def test_mirror_of_walk_turns_left_into_right():
    seq = synthetic_clip("wave", 6)  # waves with the right hand
    m = seq.mirrored()
    fmt = seq.format
    lh, rh = fmt.index("left_hand"), fmt.index("right_hand")
    assert seq.positions[0, 0, rh, 1] > seq.positions[0, 0, lh, 1]
    assert m.positions[0, 0, lh, 1] > m.positions[0, 0, rh, 1]


# ---------------------------------------------------------------- augment
def test_rotation_augmentation_preserves_bone_lengths_and_is_seeded():
    seq = _random_seq(drop=0.2)
    a = tf.random_rotation(seq, 45, max_tilt=10, seed=5)
    b = tf.random_rotation(seq, 45, max_tilt=10, seed=5)
    np.testing.assert_array_equal(a.positions, b.positions)
    np.testing.assert_allclose(tf.bone_lengths(a), tf.bone_lengths(seq), rtol=1e-4, atol=1e-5)
    rot = np.asarray(a.meta["transforms"][-1]["rotation"])
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
    assert not np.allclose(a.positions, seq.positions)


def test_rotation_about_up_axis_only_keeps_height():
    seq = synthetic_clip("squat", 8)
    out = tf.random_rotation(seq, 90, seed=1)
    np.testing.assert_allclose(out.positions[..., 1], seq.positions[..., 1], atol=1e-5)


def test_scale_and_jitter():
    seq = _random_seq(P=1, drop=0.3)
    scaled = tf.random_scale(seq, 2.0, 2.0)
    np.testing.assert_allclose(tf.bone_lengths(scaled), 2 * tf.bone_lengths(seq), rtol=1e-4)
    noisy = tf.jitter(seq, 0.05, seed=0)
    diff = (noisy.positions - seq.positions)[seq.mask]
    assert 0.03 < diff.std() < 0.07
    assert np.all(noisy.positions[~seq.mask] == 0)
    full = tf.augment(seq, max_angle=20, scale_range=(0.8, 1.2), jitter_std=0.01, mirror_prob=0.5, seed=3)
    again = tf.augment(seq, max_angle=20, scale_range=(0.8, 1.2), jitter_std=0.01, mirror_prob=0.5, seed=3)
    np.testing.assert_array_equal(full.positions, again.positions)
    assert [r["name"] for r in full.meta["transforms"]][-3:] == ["random_rotation", "random_scale", "jitter"]


def test_2d_data_rotates_in_plane():
    rng = np.random.default_rng(0)
    seq = hs.SkeletonSequence(positions=rng.uniform(0, 500, size=(3, 1, 17, 2)), format="coco17")
    out = tf.random_rotation(seq, 30, seed=0)
    assert np.all(out.positions[..., 2] == 0)
    assert np.all(tf.jitter(seq, 2.0, seed=0).positions[..., 2] == 0)
    np.testing.assert_allclose(tf.bone_lengths(out), tf.bone_lengths(seq), rtol=1e-4)


@pytest.mark.parametrize("call,name", [
    (lambda s: tf.normalize(s, center="middle"), "center"),
    (lambda s: tf.normalize(s, target_bone_length=0), "target_bone_length"),
    (lambda s: tf.random_rotation(s, -5), "max_angle"),
    (lambda s: tf.random_scale(s, 1.2, 0.8), "low, high"),
    (lambda s: tf.jitter(s, -1), "std"),
    (lambda s: tf.augment(s, mirror_prob=2), "mirror_prob"),
    (lambda s: tf.denormalize(s), "meta['transforms']"),
    (lambda s: tf.mirror(s.positions), "seq"),
])
def test_bad_arguments_raise_typed_errors(call, name):
    with pytest.raises(SkeletonInputError) as err:
        call(_random_seq())
    assert err.value.name == name  # the argument at fault, not some later failure


def test_mirroring_a_format_without_pairs_is_refused_before_any_draw():
    fmt = _random_seq().format
    unpaired = hs.SkeletonFormat(name="no_pairs", joints=fmt.joints, parents=fmt.parents, up_axis=fmt.up_axis)
    seq = hs.SkeletonSequence(positions=_random_seq().positions, format=unpaired)
    for prob in (1.0, 1e-9):  # refused whether or not this draw would mirror
        with pytest.raises(SkeletonInputError, match="no_pairs: mirror_pairs"):
            tf.augment(seq, mirror_prob=prob, seed=0)
    assert tf.augment(seq, mirror_prob=0.0, seed=0).format.name == "no_pairs"


def test_denormalize_per_frame_after_resample_is_refused():
    norm = _random_seq().normalized(center="per_frame").resample(5)
    with pytest.raises(SkeletonInputError, match="per-frame"):
        tf.denormalize(norm)


def test_all_masked_clip_passes_every_transform():
    seq = hs.SkeletonSequence(positions=np.zeros((2, 1, 20, 3)), mask=np.zeros((2, 1, 20), bool), format="kinect_v1")
    for out in (seq.normalized(align_view=True), seq.resample(4), seq.mirrored(), tf.augment(seq, seed=0,
                                                                                                jitter_std=0.1)):
        assert not out.mask.any() and np.all(out.positions == 0)


# ---------------------------------------------------------------- real clips
def test_real_one_frame_nucla_clip_through_every_transform(nucla_dir):
    from hf_skeleton.skeletons.io import load_skeleton

    one = next(p for p in sorted(nucla_dir.glob("*.json")) if len(json.loads(p.read_text())["skeletons"]) == 1)
    seq = load_skeleton(one)
    assert seq.num_frames == 1
    norm = seq.normalized(align_view=True)
    np.testing.assert_allclose(norm.positions[0, 0, 0], 0, atol=1e-6)
    np.testing.assert_allclose(tf.denormalize(norm).positions, seq.positions, atol=1e-5)
    assert seq.resample(16).num_frames == 16
    np.testing.assert_array_equal(seq.resample(16).positions, np.repeat(seq.positions, 16, axis=0))
    assert seq.resample(16, mode="random", seed=0).num_frames == 16
    np.testing.assert_array_equal(seq.mirrored().mirrored().positions, seq.positions)
    aug = tf.augment(seq, max_tilt=5, jitter_std=0.0, mirror_prob=1.0, seed=0)
    np.testing.assert_allclose(np.nanmedian(tf.bone_lengths(aug)) / np.nanmedian(tf.bone_lengths(seq)),
                               aug.meta["transforms"][-1]["factor"], rtol=1e-4)


def test_real_nucla_normalisation_scale_is_body_sized(nucla_dir):
    from hf_skeleton.skeletons.io import load_skeleton

    seq = load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    norm = seq.normalized(align_view=True)
    # Kinect v1 median bone is ~0.1-0.3 m; after normalisation the median bone is 1
    assert 0.05 < norm.meta["transforms"][-1]["median_bone_length"] < 0.4
    assert abs(tf.median_bone_length(norm) - 1.0) < 1e-4
    fmt = seq.format
    hip = norm.positions[0, 0, fmt.index("left_hip")] - norm.positions[0, 0, fmt.index("right_hip")]
    assert hip[0] < 0
    facing, found = body_facing(*canonical_pose(norm.positions.astype(np.float64), norm.mask), fmt)
    assert found and np.allclose(facing, [0.0, 0.0, -1.0], atol=1e-5)


def test_per_frame_meta_arrays_follow_resampling_and_mirroring():
    seq = _random_seq(T=6, P=1, drop=0.0)
    seq.meta["time"] = np.arange(6) / 30.0
    seq.meta["tracking_state"] = np.arange(6 * 25).reshape(6, 1, 25)
    seq.meta["unrelated"] = np.zeros(3)
    out = seq.resample(11)
    np.testing.assert_allclose(out.meta["time"], np.round(np.linspace(0, 5, 11) + 1e-9) / 30.0)
    nearest = np.round(np.linspace(0, 5, 11) + 1e-9).astype(int)
    np.testing.assert_array_equal(out.meta["tracking_state"], seq.meta["tracking_state"][nearest])
    np.testing.assert_array_equal(out.meta["unrelated"], np.zeros(3))  # not per-frame: left as is
    rnd = seq.resample(3, mode="random", seed=0)
    np.testing.assert_array_equal(rnd.meta["time"] * 30, rnd.meta["transforms"][-1]["indices"])
    m = seq.mirrored()
    perm = seq.format.mirror_permutation()
    np.testing.assert_array_equal(m.meta["tracking_state"], seq.meta["tracking_state"][:, :, perm])
    assert seq.meta["tracking_state"][0, 0, 0] == 0  # the input is untouched


# ---------------------------------------------------------------- properties

@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 9), P=st.integers(1, 3), drop=st.floats(0.0, 1.0), seed=st.integers(0, 2**16),
       fmt=st.sampled_from(["kinect_v1", "kinect_v2", "smpl22", "h36m17", "coco17"]),
       center=st.sampled_from(["first_frame", "per_frame", "none"]), align=st.booleans())
def test_properties_on_random_clips(T, P, drop, seed, fmt, center, align):
    seq = _random_seq(T=T, P=P, fmt=fmt, seed=seed, drop=drop)
    back = tf.denormalize(tf.normalize(seq, center=center, align_view=align))
    np.testing.assert_allclose(back.positions, seq.positions, atol=5e-5 * max(1.0, np.abs(seq.positions).max()))
    np.testing.assert_array_equal(seq.mirrored().mirrored().positions, seq.positions)
    same = seq.resample(T)
    np.testing.assert_array_equal(same.positions, seq.positions)
    np.testing.assert_array_equal(same.mask, seq.mask)
    rot = tf.random_rotation(seq, 180, max_tilt=30, seed=seed)
    np.testing.assert_allclose(np.nan_to_num(tf.bone_lengths(rot)), np.nan_to_num(tf.bone_lengths(seq)),
                               rtol=1e-4, atol=1e-4)
    for out in (rot, seq.resample(5, mode="random", seed=seed), tf.augment(seq, jitter_std=0.1, seed=seed)):
        assert np.all(out.positions[~out.mask] == 0)


def test_unobserved_joints_are_filled_from_their_tree_neighbours():
    from hf_skeleton.skeletons.geometry import fill_unobserved_joints

    fmt = hs.get_format("h36m17")
    seq = _random_seq(T=5, P=2, fmt="h36m17", seed=3, drop=0.0)
    pos, mask = seq.positions, seq.mask.copy()
    neck, thorax, head = (fmt.index(n) for n in ("neck", "thorax", "head"))
    mask[:, :, neck] = False  # a format without the joint: zero after conversion
    arm = [fmt.index(n) for n in ("left_shoulder", "left_elbow", "left_wrist")]
    mask[1, 0, arm] = False  # a chain unobserved in one frame: filled outwards from the thorax
    filled = fill_unobserved_joints(np.where(mask[..., None], pos, 0.0), mask, fmt)
    np.testing.assert_array_equal(filled[mask], pos[mask])  # observed joints untouched
    np.testing.assert_allclose(filled[:, :, neck], (pos[:, :, thorax] + pos[:, :, head]) / 2, atol=1e-6)
    np.testing.assert_allclose(filled[1, 0, arm], np.repeat(pos[1, 0, thorax][None], 3, 0), atol=1e-6)
    nothing = fill_unobserved_joints(pos, np.zeros_like(mask), fmt)  # nothing observed: zeros, no NaN
    assert np.isfinite(nothing).all()
