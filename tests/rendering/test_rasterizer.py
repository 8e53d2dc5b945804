"""DrAction's Gaussian rasterizer: tiled torch backend against oracles, gsplat's projection, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from hf_skeleton.errors import HFSkeletonError, SkeletonInputError
from hf_skeleton.rendering.projection import project_gaussians
from hf_skeleton.rendering.raster_oracles import rasterize_scalar
from hf_skeleton.rendering.raster_torch import rasterize_tiled
from hf_skeleton.rendering.rasterizer import RasterOutput, rasterize_gaussians, resolve_backend


def make_scene(n_img=3, k=24, width=32, height=32, dtype=torch.float32, seed=0, scale=0.06):
    """Random anisotropic Gaussians in front of slightly rotated cameras.

    Per image, Gaussian 0 sits behind the camera and Gaussian 1 straddles the right image border.
    """
    g = torch.Generator().manual_seed(seed)
    f64 = {"dtype": torch.float64}
    means = torch.empty(n_img, k, 3, **f64)
    means[..., :2] = (torch.rand(n_img, k, 2, generator=g, **f64) - 0.5) * 1.2
    means[..., 2] = 1.5 + torch.rand(n_img, k, generator=g, **f64)
    means[:, 0] = torch.tensor([0.1, 0.0, -0.5], **f64)
    means[:, 1] = torch.tensor([1.05, -0.2, 1.6], **f64)
    basis = torch.randn(n_img, k, 3, 3, generator=g, **f64) * scale
    covs = basis @ basis.transpose(-1, -2) + 1e-4 * torch.eye(3, **f64)
    colors = torch.rand(n_img, k, 3, generator=g, **f64)
    opacities = 0.05 + 0.9 * torch.rand(n_img, k, generator=g, **f64)
    ang = 0.3 * torch.rand(n_img, generator=g, **f64)
    view = torch.eye(4, **f64).repeat(n_img, 1, 1)
    view[:, 0, 0], view[:, 0, 2] = torch.cos(ang), torch.sin(ang)
    view[:, 2, 0], view[:, 2, 2] = -torch.sin(ang), torch.cos(ang)
    view[:, 2, 3] = 0.2
    focal = 0.5 * width / math.tan(math.radians(30.0))
    intr = torch.tensor([[focal, 0, width / 2], [0, focal * 1.1, height / 2], [0, 0, 1]], **f64)
    intr = intr.repeat(n_img, 1, 1)
    return [x.to(dtype) for x in (means, covs, colors, opacities, view, intr)]


def max_diff(a: RasterOutput, b: RasterOutput) -> dict:
    return {
        "rgb": (a.rgb - b.rgb.to(a.rgb.dtype)).abs().max().item(),
        "alpha": (a.alpha - b.alpha.to(a.alpha.dtype)).abs().max().item(),
        # depth is normalised by alpha; compare the accumulated depth, whose scale is bounded
        "depth": (a.depth * a.alpha - (b.depth * b.alpha).to(a.depth.dtype)).abs().max().item(),
    }


BG = (0.2, 0.5, 0.9)


@pytest.mark.parametrize("size", [(32, 32), (40, 24)])
@pytest.mark.parametrize("tile_size", [16, 8])
def test_tiled_matches_dense_oracle_fp32(size, tile_size):
    width, height = size
    scene = make_scene(3, 24, width, height)
    bg = torch.tensor(BG)
    tiled = rasterize_gaussians(*scene, width, height, background=bg, backend="torch", tile_size=tile_size)
    dense = rasterize_gaussians(*scene, width, height, background=bg, backend="dense")
    assert tiled.rgb.shape == (3, height, width, 3)
    assert tiled.alpha.shape == tiled.depth.shape == (3, height, width)
    # the scene is not trivial: covered and empty pixels, partial coverage
    assert (tiled.alpha > 0.5).any() and (tiled.alpha == 0).any()
    diffs = max_diff(tiled, dense)
    assert max(diffs.values()) <= 1e-5, diffs


def test_tiled_matches_scalar_transcription_fp64():
    scene = make_scene(2, 16, 32, 32, dtype=torch.float64, seed=1)
    bg = torch.tensor([BG, BG[::-1]], dtype=torch.float64)
    tiled = rasterize_gaussians(*scene, 32, 32, background=bg, backend="torch")
    scalar = rasterize_scalar(*scene, 32, 32, background=bg)
    assert (scalar.alpha > 0.3).sum() > 20
    diffs = max_diff(tiled, scalar)
    assert max(diffs.values()) <= 1e-10, diffs


def test_chunking_and_caching_do_not_change_image_or_gradients():
    scene = make_scene(2, 24, 40, 24, seed=2)
    for x in scene[:4]:
        x.requires_grad_()
    weights = torch.rand(2, 24, 40, 3, generator=torch.Generator().manual_seed(3))
    results = []
    # one chunk with the per-pair terms kept for backward, then one tile per chunk, recomputed
    for budget, cache in ((1 << 20, 1 << 30), (1, 0)):
        out = rasterize_tiled(*scene, 40, 24, chunk_elements=budget, cache_bytes=cache)
        loss = (out.rgb * weights).sum() + out.alpha.sum() + (out.depth * out.alpha).sum()
        results.append((out, torch.autograd.grad(loss, scene[:4])))
    (ref, ref_grads), (small, small_grads) = results
    assert torch.equal(ref.rgb, small.rgb) and torch.equal(ref.alpha, small.alpha)
    for a, b in zip(ref_grads, small_grads):
        assert b.abs().max() > 0
        assert (a - b).abs().max() <= 1e-5 * b.abs().max(), (a - b).abs().max()


def _stacked_scene(n_stack=8, opacity=0.95, dtype=torch.float64):
    """n_stack equal Gaussians on the optical axis, one behind the other, centred on pixel (8, 8)."""
    means = torch.zeros(1, n_stack, 3, dtype=dtype)
    means[0, :, 2] = 2.0 + 0.1 * torch.arange(n_stack, dtype=dtype)
    covs = (0.05**2) * torch.eye(3, dtype=dtype).expand(1, n_stack, 3, 3).clone()
    colors = torch.rand(1, n_stack, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(dtype)
    opac = torch.full((1, n_stack), opacity, dtype=dtype)
    view = torch.eye(4, dtype=dtype)[None]
    intr = torch.tensor([[[40.0, 0, 8.5], [0, 40.0, 8.5], [0, 0, 1]]], dtype=dtype)
    return [means, covs, colors, opac, view, intr]


def test_transmittance_early_stop_matches_gsplat_semantics():
    scene = _stacked_scene()
    tiled = rasterize_gaussians(*scene, 16, 16, backend="torch")
    scalar = rasterize_scalar(*scene, 16, 16)
    assert max(max_diff(tiled, scalar).values()) <= 1e-10
    # centre pixel: T = 0.05, 0.0025, 1.25e-4, then 6.25e-6 <= 1e-4 -> the 4th Gaussian stops the pixel
    assert tiled.alpha[0, 8, 8].item() == pytest.approx(1 - 0.05**3, abs=1e-12)
    colors = scene[2][0]
    weights = torch.tensor([0.95, 0.95 * 0.05, 0.95 * 0.0025], dtype=torch.float64)
    expected = (weights[:, None] * colors[:3]).sum(0)
    torch.testing.assert_close(tiled.rgb[0, 8, 8], expected, rtol=0, atol=1e-12)
    # without the stop, the 4th Gaussian would add 0.95 * 1.25e-4 of its colour
    assert (tiled.rgb[0, 8, 8] - (expected + 0.95 * 1.25e-4 * colors[3])).abs().max() > 1e-5
    dense = rasterize_gaussians(*[x.float() for x in scene], 16, 16, backend="dense")
    tiled32 = rasterize_gaussians(*[x.float() for x in scene], 16, 16, backend="torch")
    assert max(max_diff(tiled32, dense).values()) <= 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_projection_matches_gsplat_torch_impl(dtype):
    from gsplat.cuda._torch_impl import _fully_fused_projection

    means, covs, _, _, view, intr = make_scene(3, 40, 64, 48, dtype=dtype, seed=3)
    ours = project_gaussians(means, covs, view, intr, 64, 48)
    radii, means2d, depths, conics, _ = _fully_fused_projection(
        means, covs, view[:, None], intr[:, None], 64, 48, eps2d=0.3, near_plane=0.01, far_plane=1e10
    )
    radii, means2d, depths, conics = radii[:, 0], means2d[:, 0], depths[:, 0], conics[:, 0]
    vis = ours.visible
    assert vis.sum() > 60 and (~vis).sum() >= 3  # behind-camera and off-screen Gaussians are culled
    assert torch.equal(ours.radii, radii.to(torch.int32))
    assert (ours.means2d - means2d)[vis].abs().max() < 1e-4
    assert (ours.conics - conics)[vis].abs().max() < 1e-4
    assert (ours.depths - depths).abs().max() < 1e-4


def test_gradcheck_fp64():
    width = height = 8
    means, covs, colors, opac, view, intr = make_scene(1, 3, width, height, dtype=torch.float64, seed=4, scale=0.1)
    means = means.clone()
    means[0, :2] = torch.tensor([[0.05, 0.02, 1.8], [-0.1, 0.08, 2.1]], dtype=torch.float64)
    chol = torch.linalg.cholesky(covs).requires_grad_()
    logits = torch.logit(opac).requires_grad_()
    means.requires_grad_()
    colors.requires_grad_()
    view.requires_grad_()
    intr.requires_grad_()
    bg = torch.tensor(BG, dtype=torch.float64)

    def render(means, chol, colors, logits, view, intr):
        out = rasterize_gaussians(means, chol @ chol.transpose(-1, -2), colors, torch.sigmoid(logits), view, intr,
                                  width, height, background=bg, backend="torch")
        return out.rgb, out.alpha, out.depth * out.alpha

    probe = render(means, chol, colors, logits, view, intr)
    assert (probe[1] > 0.05).sum() >= 6
    assert torch.autograd.gradcheck(render, (means, chol, colors, logits, view, intr), eps=1e-6, atol=1e-6)


def test_gradients_match_dense_autograd():
    scene = make_scene(2, 24, 40, 24, seed=5)
    for x in scene:
        x.requires_grad_()
    weights = torch.rand(2, 24, 40, 3, generator=torch.Generator().manual_seed(1))
    grads = {}
    for backend in ("torch", "dense"):
        out = rasterize_gaussians(*scene, 40, 24, background=torch.tensor(BG), backend=backend)
        loss = (out.rgb * weights).sum() + 0.3 * out.alpha.sum() + 0.1 * (out.depth * out.alpha).sum()
        grads[backend] = torch.autograd.grad(loss, scene)
    for name, a, b in zip(("means", "covariances", "colors", "opacities", "viewmats", "intrinsics"),
                          grads["torch"], grads["dense"]):
        assert b.abs().max() > 0, name
        assert (a - b).abs().max() <= 1e-5 * b.abs().max() + 1e-6, name


def test_only_rgb_used_in_loss_backpropagates():
    scene = make_scene(1, 12, 32, 32, seed=6)
    scene[0].requires_grad_()
    out = rasterize_gaussians(*scene, 32, 32, backend="torch")
    (grad,) = torch.autograd.grad(out.rgb.sum(), scene[0])
    out = rasterize_gaussians(*scene, 32, 32, backend="dense")
    (ref,) = torch.autograd.grad(out.rgb.sum(), scene[0])
    torch.testing.assert_close(grad, ref, rtol=1e-4, atol=1e-5)


def test_all_gaussians_culled_gives_background():
    scene = make_scene(2, 5, 24, 16, seed=7)
    scene[0] = scene[0].clone()
    scene[0][..., 2] = -1.0  # everything behind the camera
    scene[0].requires_grad_()
    bg = torch.tensor(BG)
    out = rasterize_gaussians(*scene, 24, 16, background=bg, backend="torch")
    assert torch.equal(out.alpha, torch.zeros(2, 16, 24))
    assert torch.equal(out.rgb, bg.expand(2, 16, 24, 3))
    assert torch.equal(out.depth, torch.zeros(2, 16, 24))
    (grad,) = torch.autograd.grad(out.rgb.sum(), scene[0])
    assert torch.equal(grad, torch.zeros_like(grad))


@pytest.mark.parametrize("n_img, k", [(2, 0), (0, 5)])
def test_no_gaussians_or_no_images(n_img, k):
    means = torch.zeros(n_img, k, 3, requires_grad=True)
    covs = 0.01 * torch.eye(3).expand(n_img, k, 3, 3)
    intr = torch.tensor([[20.0, 0, 8], [0, 20, 6], [0, 0, 1]]).expand(n_img, 3, 3)
    for backend in ("torch", "dense"):
        out = rasterize_gaussians(means, covs, torch.rand(n_img, k, 3), torch.rand(n_img, k),
                                  torch.eye(4).expand(n_img, 4, 4), intr, 16, 12,
                                  background=torch.ones(3), backend=backend)
        assert out.rgb.shape == (n_img, 12, 16, 3) and out.alpha.shape == (n_img, 12, 16)
        assert torch.equal(out.rgb, torch.ones(n_img, 12, 16, 3))
        assert torch.equal(out.alpha, torch.zeros(n_img, 12, 16))
        (grad,) = torch.autograd.grad(out.rgb.sum(), means, allow_unused=True, materialize_grads=True)
        assert torch.equal(grad, torch.zeros(n_img, k, 3))


@pytest.mark.parametrize(
    "name, change, expected",
    [
        ("means", lambda s: s.__setitem__(0, s[0][..., :2]), "(N, K, 3)"),
        ("covariances", lambda s: s.__setitem__(1, s[1][:, :-1]), "(N, K, 3, 3)"),
        ("colors", lambda s: s.__setitem__(2, s[2][0]), "(N, K, C)"),
        ("opacities", lambda s: s.__setitem__(3, s[3][..., None]), "(N, K)"),
        ("viewmats", lambda s: s.__setitem__(4, s[4][:, :3]), "(N, 4, 4)"),
        ("intrinsics", lambda s: s.__setitem__(5, s[5][:1]), "(N, 3, 3)"),
        ("opacities", lambda s: s.__setitem__(3, s[3].double()), "dtype"),
        ("colors", lambda s: s.__setitem__(2, s[2].int()), "floating-point"),
    ],
)
def test_bad_input_names_the_argument(name, change, expected):
    scene = make_scene(2, 4, 16, 16)
    change(scene)
    with pytest.raises(SkeletonInputError) as info:
        rasterize_gaussians(*scene, 16, 16)
    assert info.value.name == name
    assert expected in str(info.value)


def test_bad_options_are_rejected():
    scene = make_scene(2, 4, 16, 16)
    with pytest.raises(SkeletonInputError, match="background"):
        rasterize_gaussians(*scene, 16, 16, background=torch.zeros(4))
    with pytest.raises(SkeletonInputError, match="width"):
        rasterize_gaussians(*scene, 0, 16)
    with pytest.raises(SkeletonInputError, match="backend"):
        rasterize_gaussians(*scene, 16, 16, backend="cuda")
    with pytest.raises(HFSkeletonError, match="needs CUDA tensors.*use backend='torch'"):
        rasterize_gaussians(*scene, 16, 16, backend="gsplat")
    assert resolve_backend("auto", torch.device("cpu")) == "torch"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (gsplat's rasterizer is CUDA-only)")
def test_gsplat_backend_matches_torch_backend_on_cuda():
    scene = [x.cuda().requires_grad_() for x in make_scene(4, 64, 96, 80, seed=8)]
    bg = torch.tensor(BG, device="cuda")
    weights = torch.rand(4, 80, 96, 3, device="cuda")
    outs, grads = {}, {}
    for backend in ("gsplat", "torch"):
        out = rasterize_gaussians(*scene, 96, 80, background=bg, backend=backend)
        outs[backend] = out
        grads[backend] = torch.autograd.grad((out.rgb * weights).sum() + out.alpha.sum(), scene[:4])
    for key in ("rgb", "alpha"):
        err = (getattr(outs["gsplat"], key) - getattr(outs["torch"], key)).abs()
        assert err.mean() < 1e-4 and err.max() < 5e-3, key
    for a, b in zip(grads["gsplat"], grads["torch"]):
        cos = torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0)
        assert cos > 0.999
