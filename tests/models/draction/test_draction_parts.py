"""DrAction building blocks: Gaussian layout and scales, skinning, SO(3) projection, NFM, cameras."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy
import torch
from scipy.spatial.transform import Rotation

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonInputError
from hf_skeleton.models.draction import (
    GaussianColor,
    LinearBlendSkinning,
    NeuralFeatureModulator,
    build_layout,
    canonical_pose,
    depth_ramp,
    isotropic_scales,
    metres_per_unit,
    num_gaussians,
    project_to_so3,
    relative_rotations,
)
from hf_skeleton.rendering import clip_cameras, tile_views, view_rotation

USER_FORMAT = hs.SkeletonFormat(
    name="tripod_user", joints=("root", "a", "b", "c", "d"), parents=(-1, 0, 1, 0, 3), units="m")


def _random_pose(fmt, *lead, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*lead, fmt.num_joints, 3, generator=g, dtype=dtype)


# ---------------------------------------------------------------------- layout
def test_kinect_v2_has_265_gaussians():
    assert num_gaussians("kinect_v2") == 265
    assert build_layout("kinect_v2").num_gaussians == 265
    assert hs.DrActionConfig(format="kinect_v2").num_gaussians == 265


@pytest.mark.parametrize("name", hs.list_formats() + [USER_FORMAT])
@pytest.mark.parametrize("n", [0, 3, 10])
def test_layout_is_joints_plus_n_per_bone(name, n):
    fmt = hs.get_format(name)
    layout = build_layout(fmt, n)
    J, E = fmt.num_joints, fmt.num_bones
    assert layout.num_gaussians == J + n * E
    assert torch.allclose(layout.weights.sum(-1), torch.ones(J + n * E, dtype=torch.float64))
    assert layout.is_joint[:J].all() and not layout.is_joint[J:].any()
    assert (layout.joints[:J, 0] == torch.arange(J)).all()
    if n:
        # samples of the first bone at s / (n + 1) from the parent, s = 1..n
        p, c = fmt.bones[0]
        first = slice(J, J + n)
        assert (layout.joints[first, 0] == p).all() and (layout.joints[first, 1] == c).all()
        expected = torch.arange(1, n + 1, dtype=torch.float64) / (n + 1)
        assert torch.allclose(layout.weights[first, 1], expected)


def test_scales_follow_the_authors_rule():
    fmt = hs.get_format("kinect_v2")
    layout = build_layout(fmt, 10)
    canon = _random_pose(fmt, seed=3).abs() * 0.4
    scales = isotropic_scales(canon, layout, joint_base=0.030, bone_base=0.020, gamma=1.0)
    p = canon.numpy()
    lengths = np.array([np.linalg.norm(p[c] - p[a]) for a, c in fmt.bones])
    ratio = lengths / lengths.max()
    for j in (0, 3, 20, 7):  # pelvis (3 bones), head (1), thorax (3), hand (3)
        inc = [ratio[e] for e, (a, c) in enumerate(fmt.bones) if j in (a, c)]
        assert scales[j].item() == pytest.approx(np.clip(0.030 * np.median(inc), 0.010, 0.035), rel=1e-6)
    J = fmt.num_joints
    for e in (0, 5, 23):
        expect = np.clip(0.020 * ratio[e], 0.006, 0.030)
        assert torch.allclose(scales[J + 10 * e: J + 10 * (e + 1)], torch.full((10,), expect, dtype=scales.dtype))
    # gamma = 0 gives the bases (SMPL-22 defaults), clamped
    flat = isotropic_scales(canon, layout, joint_base=0.026, bone_base=0.016, gamma=0.0)
    assert torch.allclose(flat[:J], torch.full((J,), 0.026, dtype=flat.dtype))
    assert torch.allclose(flat[J:], torch.full((flat.shape[0] - J,), 0.016, dtype=flat.dtype))
    cfg = hs.DrActionConfig(format="smpl22")
    assert (cfg.joint_scale_base, cfg.bone_scale_base, cfg.scale_gamma) == (0.026, 0.016, 0.0)


def test_scales_are_relative_to_the_body_in_any_unit():
    fmt = hs.get_format("kinect_v1")
    layout = build_layout(fmt, 10)
    canon = _random_pose(fmt, seed=1) * 0.3
    metres = isotropic_scales(canon, layout)
    cm = isotropic_scales(canon * 100, layout, metres_per_unit=0.01)
    assert torch.allclose(cm, metres * 100)
    px_fmt = hs.get_format("openpose25")
    px = _random_pose(px_fmt, seed=2) * 200
    mpu = metres_per_unit(px_fmt, px)
    longest = max(float(torch.linalg.norm(px[c] - px[a])) for a, c in px_fmt.bones)
    assert mpu.item() == pytest.approx(0.45 / longest)
    # an unobserved joint leaves its bones out of the longest bone and of the medians
    mask = torch.ones(fmt.num_joints, dtype=torch.bool)
    far = canon.clone()
    far[3] = 100.0  # head far away but masked
    mask[3] = False
    s_masked = isotropic_scales(far, layout, canonical_mask=mask)
    s_ref = isotropic_scales(canon, layout)
    assert torch.isfinite(s_masked).all()
    assert s_masked[0] == s_ref[0]  # pelvis does not touch the head


# ---------------------------------------------------------------------- skinning
@pytest.mark.parametrize("learnable", [False, True])
def test_identity_skinning_interpolates_bone_endpoints(learnable):
    fmt = hs.get_format("kinect_v2")
    layout = build_layout(fmt, 10)
    lbs = LinearBlendSkinning(layout, learnable=learnable).double()
    B, T, P = 2, 5, 2
    pos = _random_pose(fmt, B, T, P, seed=4)
    mask = torch.ones(B, T, P, fmt.num_joints, dtype=torch.bool)
    canon, _, _ = canonical_pose(pos, mask)
    scales = torch.full((B, P, layout.num_gaussians), 0.02, dtype=torch.float64)
    means, covs = lbs(pos, canon, scales)
    J = fmt.num_joints
    assert torch.allclose(means[..., :J, :], pos)
    for e, (a, c) in enumerate(fmt.bones):
        for s in range(1, 11):
            t = s / 11
            expect = (1 - t) * pos[..., a, :] + t * pos[..., c, :]
            assert torch.allclose(means[..., J + 10 * e + s - 1, :], expect, atol=1e-6 if learnable else 1e-12)
    assert torch.allclose(covs, torch.eye(3, dtype=torch.float64) * 0.02 ** 2)
    # identity orientations take the rotation path and give the same result
    ori = torch.eye(3, dtype=torch.float64).expand(B, T, P, J, 3, 3)
    means_r, covs_r = lbs(pos, canon, scales, relative_rotations(ori, torch.zeros(B, P, J, dtype=torch.long)))
    assert torch.allclose(means_r, means) and torch.allclose(covs_r, covs)


def test_rigid_rotation_moves_gaussians_rigidly():
    fmt = hs.get_format("kinect_v1")
    layout = build_layout(fmt, 4)
    lbs = LinearBlendSkinning(layout).double()
    canon = _random_pose(fmt, 1, 1, seed=5)  # (B=1, P=1, J, 3)
    R = torch.from_numpy(Rotation.random(random_state=0).as_matrix())
    shift = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    frame = canon @ R.T + shift
    pos = torch.stack([canon, frame], dim=1)  # (1, 2, 1, J, 3)
    ori = torch.stack([torch.eye(3, dtype=torch.float64).expand(1, 1, 20, 3, 3),
                       R.expand(1, 1, 20, 3, 3)], dim=1)
    scales = torch.rand(1, 1, layout.num_gaussians, dtype=torch.float64) * 0.03 + 0.01
    rot = relative_rotations(ori, torch.zeros(1, 1, 20, dtype=torch.long))
    means, covs = lbs(pos, canon, scales, rot)
    assert torch.allclose(means[:, 1], means[:, 0] @ R.T + shift, atol=1e-10)
    assert torch.allclose(covs[:, 1], R @ covs[:, 0] @ R.T, atol=1e-12)


def test_canonical_pose_is_first_observed_frame_per_joint():
    fmt = hs.get_format("kinect_v1")
    pos = _random_pose(fmt, 1, 4, 1, seed=6)
    mask = torch.ones(1, 4, 1, 20, dtype=torch.bool)
    mask[0, 0, 0, 5] = False
    mask[0, :, 0, 7] = False
    canon, cmask, frame = canonical_pose(pos, mask)
    assert torch.equal(canon[0, 0, 0], pos[0, 0, 0, 0])
    assert torch.equal(canon[0, 0, 5], pos[0, 1, 0, 5]) and frame[0, 0, 5] == 1
    assert not cmask[0, 0, 7] and cmask[0, 0, 5]


@pytest.mark.skipif(tuple(int(x) for x in scipy.__version__.split(".")[:2]) < (1, 16),
                    reason="scipy's Rotation.from_matrix returns the Frobenius-closest rotation of a "
                           "non-orthogonal matrix only from scipy 1.16")
def test_svd_projection_gives_rotations_and_matches_scipy():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(200, 3, 3, generator=g, dtype=torch.float64)
    M[:100, :, 0] *= -1  # many reflections (det < 0)
    assert (torch.linalg.det(M) < 0).any()
    R = project_to_so3(M)
    eye = torch.eye(3, dtype=torch.float64).expand_as(R)
    assert torch.allclose(R @ R.transpose(-1, -2), eye, atol=1e-10)
    assert torch.allclose(torch.linalg.det(R), torch.ones(200, dtype=torch.float64), atol=1e-10)
    # scipy's from_matrix returns the closest rotation in the Frobenius sense (Markley's method)
    proper = torch.linalg.det(M) > 0
    ref = torch.from_numpy(Rotation.from_matrix(M[proper].numpy()).as_matrix())
    assert torch.allclose(R[proper], ref, atol=1e-8)
    # for reflections no random rotation is closer than the projection
    cand = torch.from_numpy(Rotation.random(500, random_state=0).as_matrix())
    for m, r in zip(M[~proper][:10], R[~proper][:10]):
        assert (m - r).norm() <= (m - cand).flatten(1).norm(dim=1).min() + 1e-9
    with pytest.raises(SkeletonInputError, match="M"):
        project_to_so3(torch.zeros(2, 3, 4))


def test_svd_projection_gradcheck_incl_repeated_singular_values():
    g = torch.Generator().manual_seed(1)
    M = torch.randn(4, 3, 3, generator=g, dtype=torch.float64)
    torch.autograd.gradcheck(project_to_so3, (M.requires_grad_(),))
    # blends of equal rotations are rotations: singular values 1, 1, 1, where svd's own backward fails
    R0 = torch.from_numpy(Rotation.random(3, random_state=2).as_matrix())
    torch.autograd.gradcheck(project_to_so3, (R0.clone().requires_grad_(),))
    torch.autograd.gradcheck(project_to_so3, (torch.eye(3, dtype=torch.float64).requires_grad_(),))


def test_skinning_gradcheck_positions_and_logits():
    fmt = USER_FORMAT
    layout = build_layout(fmt, 2)
    lbs = LinearBlendSkinning(layout, learnable=True).double()
    with torch.no_grad():
        lbs.skinning_logits.add_(torch.randn(lbs.skinning_logits.shape, generator=torch.Generator().manual_seed(0),
                                             dtype=torch.float64) * 0.3)
    pos = _random_pose(fmt, 1, 2, 1, seed=7).requires_grad_()
    rot = torch.from_numpy(Rotation.random(2 * fmt.num_joints, random_state=3).as_matrix()).view(1, 2, 1, -1, 3, 3)
    scales = torch.rand(1, 1, layout.num_gaussians, dtype=torch.float64) * 0.02 + 0.01
    logits = lbs.skinning_logits.detach().clone().requires_grad_()

    def fn(p, lg, sc):
        return torch.func.functional_call(lbs, {"skinning_logits": lg}, (p, p[:, 0], sc, rot))

    torch.autograd.gradcheck(fn, (pos, logits, scales.requires_grad_()))


# ---------------------------------------------------------------------- appearance
def test_depth_ramp_colours():
    depth = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    valid = torch.tensor([[True, True, True, False]])
    ramp = depth_ramp(depth, valid)
    assert torch.allclose(ramp[0, 0], torch.tensor([0.0, 0.0, 1.0]))
    assert torch.allclose(ramp[0, 1], torch.tensor([0.5, 1.0, 0.5]))
    assert torch.allclose(ramp[0, 2], torch.tensor([1.0, 0.0, 0.0]))
    flat = depth_ramp(torch.zeros(1, 3), torch.ones(1, 3, dtype=torch.bool))  # 2D data: one depth
    assert torch.equal(flat, torch.tensor([0.0, 0.0, 1.0]).expand(1, 3, 3))  # no 0 / 0: all at the near end


def test_color_head_and_nfm_shapes_and_init():
    head = GaussianColor(7, 3, 64, depth_cue=True)
    assert head.depth_mix.item() == -0.5
    assert sum(p.numel() for p in head.mlp.parameters()) == 3 * 64 + 64 + 64 * 4 + 4
    rgb, logit = head.base()
    assert rgb.shape == (7, 3) and logit.shape == (7,)
    mixed = head.mix_depth(rgb, torch.arange(7.0), torch.ones(7, dtype=torch.bool))
    lam = torch.sigmoid(torch.tensor(-0.5))
    assert torch.allclose(mixed, (1 - lam) * rgb + lam * depth_ramp(torch.arange(7.0), torch.ones(7, dtype=torch.bool)))
    assert torch.equal(GaussianColor(7, depth_cue=False).mix_depth(rgb, torch.arange(7.0), torch.ones(7, dtype=bool)), rgb)
    mlp = NeuralFeatureModulator("mlp", 64)
    assert sum(p.numel() for p in mlp.parameters()) == 10 * 64 + 64 + 64 * 5 + 5  # authors: 10 -> 64 -> 5
    for kind in ("gru", "mlp"):
        nfm = NeuralFeatureModulator(kind, 8)
        d_rgb, d_a, gate = nfm(torch.randn(2, 6, 7, 3), torch.randn(2, 6, 7, 3), torch.rand(7, 4))
        assert d_rgb.shape == (2, 6, 7, 3) and d_a.shape == gate.shape == (2, 6, 7)
    with pytest.raises(SkeletonInputError, match="nfm_type"):
        NeuralFeatureModulator("lstm")


def test_gru_nfm_is_recurrent_and_mlp_is_not():
    x = torch.randn(1, 5, 3, 3)
    v = torch.randn(1, 5, 3, 3)
    base = torch.rand(3, 4)
    for kind, causal_only in (("gru", True), ("mlp", False)):
        nfm = NeuralFeatureModulator(kind, 8)
        a = nfm(x, v, base)[0]
        x2 = x.clone()
        x2[:, 1] += 1.0  # change frame 1 only
        b = nfm(x2, v, base)[0]
        assert torch.allclose(a[:, 0], b[:, 0])  # no look-ahead in either
        changed_later = not torch.allclose(a[:, 3], b[:, 3])
        assert changed_later == causal_only


# ---------------------------------------------------------------------- cameras
def _project(viewmats, K, pts):
    cam = pts @ viewmats[:3, :3].T + viewmats[:3, 3]
    uv = cam @ K.T
    return uv[..., :2] / uv[..., 2:], cam[..., 2]


@pytest.mark.parametrize("view", ["front", "back", "side", "right", "top"])
def test_auto_framing_fits_every_joint_with_margin(view):
    fmt = hs.get_format("kinect_v2")
    g = torch.Generator().manual_seed(8)
    pos = torch.randn(2, 6, 2, 25, 3, generator=g) * torch.tensor([0.8, 0.9, 0.3]) + torch.tensor([0.0, 0.0, 3.0])
    mask = torch.rand(2, 6, 2, 25, generator=g) > 0.2
    pos[~mask] = 1e3  # masked joints must be ignored by the framing
    W = H = 64
    viewmats, K = clip_cameras(pos, mask, fmt, (view,), width=W, height=H, margin=0.1,
                               radius=torch.tensor([0.05, 0.05]))
    assert viewmats.shape == (2, 1, 4, 4) and K.shape == (2, 1, 3, 3)
    for b in range(2):
        R = viewmats[b, 0, :3, :3]
        assert torch.allclose(R @ R.T, torch.eye(3), atol=1e-5) and torch.linalg.det(R) > 0.99
        uv, z = _project(viewmats[b, 0], K[b, 0], pos[b][mask[b]])
        assert (z > 0).all()
        assert (uv >= 0.1 * W - 1e-3).all() and (uv <= 0.9 * W + 1e-3).all()
        # tight: some joint reaches the margin on one axis
        edge = torch.maximum((uv - W / 2).abs().amax(0)[0], (uv - H / 2).abs().amax(0)[1])
        assert edge > 0.25 * W


def test_front_view_looks_at_the_face_and_top_view_from_above():
    fmt = hs.get_format("kinect_v2")
    pose = torch.zeros(25, 3)
    left, right = hs.get_format("kinect_v2").index("left_shoulder"), fmt.index("right_shoulder")
    # person facing -z (towards a Kinect at the origin): their left is at -x (right-handed, y up)
    pose[left] = torch.tensor([-0.2, 1.4, 3.0])
    pose[right] = torch.tensor([0.2, 1.4, 3.0])
    pose[fmt.index("head")] = torch.tensor([0.0, 1.7, 3.0])
    pos = pose[None, None, None]
    mask = torch.ones(1, 1, 1, 25, dtype=torch.bool)
    views = ("front", "back", "top", "side")
    viewmats, _ = clip_cameras(pos, mask, fmt, views, width=32, height=32)
    z_axes = viewmats[0, :, 2, :3]
    assert torch.allclose(z_axes[0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)  # front = the sensor's view
    assert torch.allclose(z_axes[1], torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)
    assert torch.allclose(z_axes[2], torch.tensor([0.0, -1.0, 0.0]), atol=1e-6)  # looks down
    assert torch.allclose(z_axes[3], torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)  # from the person's left (-x)
    # in the front view the head is above the shoulders and the person's left is on the image right
    uv, _ = _project(viewmats[0, 0], torch.eye(3), pose[[left, right, fmt.index("head")]])
    assert uv[2, 1] < uv[0, 1] and uv[0, 0] > uv[1, 0]


def test_image_plane_format_renders_in_its_own_plane():
    fmt = hs.get_format("openpose25")
    g = torch.Generator().manual_seed(9)
    pos = torch.rand(1, 3, 1, 25, 3, generator=g) * 800
    pos[..., 2] = 0.0
    mask = torch.ones(1, 3, 1, 25, dtype=torch.bool)
    viewmats, K = clip_cameras(pos, mask, fmt, ("front",), width=64, height=64)
    uv, _ = _project(viewmats[0, 0], K[0, 0], pos[0].reshape(-1, 3))
    # pixel order is preserved (x right, y down), up to scale
    px = pos[0].reshape(-1, 3)[:, :2]
    assert np.corrcoef(px[:, 0], uv[:, 0])[0, 1] > 0.9999 and np.corrcoef(px[:, 1], uv[:, 1])[0, 1] > 0.9999


def test_authors_camera():
    fmt = hs.get_format("kinect_v2")
    pos = torch.zeros(1, 1, 1, 25, 3)
    viewmats, K = clip_cameras(pos, torch.ones(1, 1, 1, 25, dtype=torch.bool), fmt, ("front",), width=448,
                               height=448, mode="authors")
    assert torch.equal(viewmats[0, 0], torch.diag(torch.tensor([1.0, -1.0, 1.0, 1.0])))
    assert K[0, 0, 0, 0].item() == pytest.approx(224 / math.tan(math.radians(30)))
    assert K[0, 0, 0, 2] == 224 and K[0, 0, 1, 2] == 224


def test_view_rotation_rejects_unknown_view_and_tiles_grid():
    with pytest.raises(SkeletonInputError, match="view"):
        view_rotation("below", torch.tensor([0.0, 1.0, 0.0]), torch.tensor([[0.0, 0.0, -1.0]]))
    tiles = torch.arange(3.0).view(1, 3, 1, 1, 1).expand(1, 3, 2, 2, 1)
    grid = tile_views(tiles, torch.tensor([9.0]))
    assert grid.shape == (1, 4, 4, 1)
    assert grid[0, :2, :2].eq(0).all() and grid[0, :2, 2:].eq(1).all() and grid[0, 2:, :2].eq(2).all()
    assert grid[0, 2:, 2:].eq(9).all()
