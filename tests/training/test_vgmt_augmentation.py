"""The VGMT recipe's training augmentation (``--augment-angle``, ``--mirror-prob``) on real CMU windows:
a yaw turns a clip about the up axis, a mirror negates the lateral axis and swaps the pairs, each read draws
anew, the held-out clips are never touched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.models.vgmt import normalize_motion
from hf_skeleton.training import vgmt_cmu
from hf_skeleton.training.vgmt_cmu import ClipDataset, VGMTRecipeConfig


@pytest.fixture(scope="module")
def cmu_windows(cmu_dir):
    """(8, 16, 43, 3) windows of one real walking trial (cm) and its format."""
    seq = hs.load_skeleton(min(cmu_dir.glob("*.bvh")))
    pos = seq.positions[::4, 0]
    return np.stack([pos[i:i + 16] for i in range(0, 8 * 8, 8)]).astype(np.float32), seq.format


def _up(fmt) -> int:
    return "xyz".index(fmt.up_axis.lstrip("-"))


def test_without_options_the_clips_are_the_normalised_windows(cmu_windows):
    clips, _ = cmu_windows
    plain = ClipDataset(clips)
    assert VGMTRecipeConfig().augmentation() is None  # the default recipe (the embedded card's command) is unchanged
    x, _, _ = normalize_motion(torch.from_numpy(clips))
    assert torch.equal(plain[2]["skeletons"], x[2]) and torch.equal(plain[2]["labels"], x[2])


def test_yaw_is_a_rotation_about_the_up_axis(cmu_windows):
    clips, fmt = cmu_windows
    turned = ClipDataset(clips, augment=VGMTRecipeConfig(augment_angle=180.0).augmentation(), fmt=fmt, seed=1)
    plain = ClipDataset(clips)
    for i in range(len(clips)):
        a, b = turned[i]["skeletons"].double().numpy(), plain[i]["skeletons"].double().numpy()
        assert np.abs(a).max() <= 1.0 + 1e-6 and not np.allclose(a, b, atol=1e-3)
        # a similarity of the raw clip: every joint-to-joint distance scales by one factor (the boxes differ) ...
        da = np.linalg.norm(a[:, :, None] - a[:, None], axis=-1)
        db = np.linalg.norm(b[:, :, None] - b[:, None], axis=-1)
        far = db > 0.05
        ratio = da[far] / db[far]
        np.testing.assert_allclose(ratio, ratio.mean(), rtol=1e-4)
        # ... that keeps heights: the up coordinate is the plain one up to that scale and a shift
        up = _up(fmt)
        fit = np.polyfit(b[..., up].ravel(), a[..., up].ravel(), 1)
        np.testing.assert_allclose(np.polyval(fit, b[..., up]), a[..., up], atol=1e-5)
        np.testing.assert_allclose(fit[0], ratio.mean(), rtol=1e-4)


def test_a_mirror_negates_the_lateral_axis_and_swaps_the_pairs(cmu_windows):
    clips, fmt = cmu_windows
    mirrored = ClipDataset(clips, augment=VGMTRecipeConfig(mirror_prob=1.0).augmentation(), fmt=fmt)
    plain = ClipDataset(clips)
    perm = np.arange(fmt.num_joints)
    for left, right in fmt.mirror_pairs:
        perm[left], perm[right] = right, left
    lateral = next(a for a in range(3) if a != _up(fmt))  # x for y-up CMU
    expected = plain[5]["skeletons"][:, perm].clone()
    expected[..., lateral] *= -1  # a box is symmetric under negation: the normalised clip negates too
    torch.testing.assert_close(mirrored[5]["skeletons"], expected, atol=1e-6, rtol=0)


def test_every_read_draws_anew_and_a_seed_repeats_the_draws(cmu_windows):
    clips, fmt = cmu_windows
    options = VGMTRecipeConfig(augment_angle=90.0, mirror_prob=0.5).augmentation()
    one, two = (ClipDataset(clips, augment=options, fmt=fmt, seed=7) for _ in range(2))
    first = [one[0]["skeletons"] for _ in range(4)]
    assert not any(torch.allclose(first[0], f) for f in first[1:])
    assert all(torch.equal(f, two[0]["skeletons"]) for f in first)
    other = ClipDataset(clips, augment=options, fmt=fmt, seed=8)
    assert not torch.allclose(other[0]["skeletons"], first[0])


def test_bad_options_are_typed_errors(cmu_windows):
    clips, fmt = cmu_windows
    with pytest.raises(hs.SkeletonInputError, match="VGMTRecipeConfig.augment_angle"):
        VGMTRecipeConfig(augment_angle=-1.0)
    with pytest.raises(hs.SkeletonInputError, match="VGMTRecipeConfig.mirror_prob"):
        VGMTRecipeConfig(mirror_prob=1.5)
    options = VGMTRecipeConfig(augment_angle=30.0, mirror_prob=0.5).augmentation()
    with pytest.raises(hs.SkeletonInputError, match="fmt"):
        ClipDataset(clips, augment=options)
    frames = np.zeros((len(clips), 16, 3, 8, 8), np.float32)
    with pytest.raises(hs.SkeletonInputError, match="no frames"):
        ClipDataset(clips, frames, np.zeros(clips.shape[:-1] + (2,)), augment=options, fmt=fmt)
    unpaired = hs.SkeletonFormat(name="no_pairs", joints=fmt.joints, parents=fmt.parents, up_axis=fmt.up_axis)
    with pytest.raises(hs.SkeletonInputError, match="no_pairs: mirror_pairs"):  # at construction, not mid-training
        ClipDataset(clips, augment=options, fmt=unpaired)
    with pytest.raises(hs.SkeletonInputError, match="augment"):  # an unknown option, also at construction
        ClipDataset(clips, augment={"max_angel": 30.0}, fmt=fmt)


def test_the_recipe_augments_training_clips_only(cmu_dir, monkeypatch, tmp_path):
    seen, built = {}, []

    class Recorded(ClipDataset):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            built.append(self)

    def capture(model, train_set, args, output_dir, log=print):
        seen["train"] = train_set
        raise KeyboardInterrupt  # stop before training: the datasets are what this test reads

    monkeypatch.setattr(vgmt_cmu, "ClipDataset", Recorded)
    monkeypatch.setattr(vgmt_cmu, "train_vgmt", capture)
    args = VGMTRecipeConfig(data=str(cmu_dir.parent), augment_angle=45.0, mirror_prob=0.25, seed=3,
                            output_dir=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        vgmt_cmu.run_cmu(args, log=lambda *_: None)
    train = seen["train"]
    assert train.augment == {"max_angle": 45.0, "mirror_prob": 0.25, "scale_range": (1.0, 1.0)}
    assert train.fmt.name.startswith("bvh43") and len(train) == 522
    held_out = [d for d in built if d is not train]
    assert [len(d) for d in held_out] == [179] and held_out[0].augment is None
