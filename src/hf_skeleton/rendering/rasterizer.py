"""Differentiable rasterization of 3D Gaussians: the public entry point and backend dispatch.

Semantics are those of gsplat 1.5.3's CUDA rasterizer (classic mode, pinhole camera): EWA
projection with ``eps2d`` dilation (see :mod:`.projection`), per-pixel
``alpha = min(0.999, opacity exp(-0.5 d^T conic d))`` at pixel centres ``+0.5``, contributions
below 1/255 skipped, front-to-back compositing in camera-depth order, and a pixel stops before the
Gaussian that would bring its transmittance to 1e-4 or below.

Backends:
    ``"torch"``  tiled, vectorised torch implementation (CPU and GPU), see :mod:`.raster_torch`.
    ``"gsplat"`` ``gsplat.rasterization`` (CUDA tensors only), see :mod:`.raster_gsplat`.
    ``"auto"``   gsplat for CUDA tensors when gsplat imports, torch otherwise.
    ``"dense"``  the every-pixel-by-every-Gaussian oracle (tests and debugging only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..errors import HFSkeletonError, SkeletonInputError
from .projection import GaussianScene, scene_backend

BACKENDS = ("auto", "torch", "gsplat", "dense")


@dataclass
class RasterOutput:
    """Rendered images of N cameras.

    Attributes:
        rgb: (N, H, W, C) composited colour, background included.
        alpha: (N, H, W) accumulated opacity ``1 - T``.
        depth: (N, H, W) alpha-normalised expected camera depth (gsplat's "ED"); 0 where alpha is 0.
    """

    rgb: Tensor
    alpha: Tensor
    depth: Tensor


def _shape(x: Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def _validate(scene: GaussianScene, backend: str, tile_size: int | None) -> GaussianScene:
    """The scene, checked, with a (C,) background expanded to (N, C)."""
    means, colors, background = scene.means, scene.colors, scene.background
    names = ("means", "covariances", "colors", "opacities", "viewmats", "intrinsics")
    tensors = {name: getattr(scene, name) for name in names}
    if background is not None:
        tensors["background"] = background
    for name, value in tensors.items():
        if not isinstance(value, Tensor):
            raise SkeletonInputError(name, "a torch.Tensor", type(value).__name__)
        if not value.is_floating_point():
            raise SkeletonInputError(name, "a floating-point tensor", value.dtype)
    if means.dim() != 3 or means.shape[-1] != 3:
        raise SkeletonInputError("means", "shape (N, K, 3)", _shape(means))
    n_img, n_gauss = means.shape[:2]
    expected = {
        "covariances": ((n_img, n_gauss, 3, 3), "(N, K, 3, 3)"),
        "opacities": ((n_img, n_gauss), "(N, K)"),
        "viewmats": ((n_img, 4, 4), "(N, 4, 4)"),
        "intrinsics": ((n_img, 3, 3), "(N, 3, 3)"),
    }
    for name, (shape, text) in expected.items():
        if _shape(tensors[name]) != shape:
            raise SkeletonInputError(name, f"shape {text} = {shape} (N, K from means)", _shape(tensors[name]))
    if colors.dim() != 3 or _shape(colors)[:2] != (n_img, n_gauss) or colors.shape[-1] < 1:
        raise SkeletonInputError("colors", f"shape (N, K, C) with (N, K) = {(n_img, n_gauss)}", _shape(colors))
    n_ch = colors.shape[-1]
    if background is not None and _shape(background) not in ((n_ch,), (n_img, n_ch)):
        raise SkeletonInputError("background", f"shape (C,) = {(n_ch,)} or (N, C) = {(n_img, n_ch)}",
                                 _shape(background))
    for name, value in tensors.items():
        if value.dtype != means.dtype:
            raise SkeletonInputError(name, f"dtype {means.dtype} (the dtype of means)", value.dtype)
        if value.device != means.device:
            raise SkeletonInputError(name, f"device {means.device} (the device of means)", str(value.device))
    for name, value in (("width", scene.width), ("height", scene.height), ("tile_size", tile_size or 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SkeletonInputError(name, "a positive int", value)
    if backend not in BACKENDS:
        raise SkeletonInputError("backend", f"one of {BACKENDS}", backend)
    if not (0 <= scene.near < scene.far):
        raise SkeletonInputError("near/far", "0 <= near < far", (scene.near, scene.far))
    if scene.eps2d < 0:
        raise SkeletonInputError("eps2d", "a non-negative float", scene.eps2d)
    if background is not None and background.dim() == 1:
        return replace(scene, background=background[None].expand(n_img, n_ch))
    return scene


def _gsplat_available() -> bool:
    try:
        import gsplat  # noqa: F401
    except (ImportError, OSError, RuntimeError):  # missing package or broken CUDA build
        return False
    return True


def resolve_backend(backend: str, device: torch.device, dtype: torch.dtype = torch.float32) -> str:
    """The backend that ``rasterize_gaussians(..., backend=backend)`` runs for tensors on ``device``.

    ``"auto"`` picks gsplat only for CUDA float32 tensors (its kernels are float32) when it imports.
    """
    if backend == "auto":
        use_gsplat = device.type == "cuda" and dtype == torch.float32 and _gsplat_available()
        return "gsplat" if use_gsplat else "torch"
    if backend == "gsplat" and device.type != "cuda":
        raise HFSkeletonError(
            f"gsplat's rasterizer needs CUDA tensors (got tensors on {device}); use backend='torch'"
        )
    return backend


@scene_backend
def rasterize_gaussians(scene: GaussianScene, *, backend: str = "auto", tile_size: int | None = None) -> RasterOutput:
    """Render N images of K Gaussians each.

    Args:
        means: (N, K, 3) world-space centres; N independent images (frames x views).
        covariances: (N, K, 3, 3) world-space covariances (symmetric PSD).
        colors: (N, K, C) colours.
        opacities: (N, K) opacities in [0, 1].
        viewmats: (N, 4, 4) world-to-camera matrices (OpenCV: x right, y down, z forward).
        intrinsics: (N, 3, 3) pinhole matrices.
        width, height: image size in pixels.
        background: (C,) or (N, C) colour behind the Gaussians; black by default.
        backend: "auto", "torch", "gsplat" or "dense" (see the module docstring).
        near, far: camera-depth range kept.
        eps2d: dilation added to each projected 2D covariance.
        tile_size: tile edge in pixels for the tiled backends (does not change the result). Default:
            8 for the torch backend (about 1.7x faster to train at 224 px on CPU, BENCHMARKS.md),
            16 for gsplat (the size its kernels are tested with).

    Returns:
        :class:`RasterOutput` with rgb (N, H, W, C), alpha (N, H, W), depth (N, H, W).
        Differentiable w.r.t. means, covariances, colors, opacities, viewmats and intrinsics
        (the gsplat backend does not differentiate intrinsics).
    """
    scene = _validate(scene, backend, tile_size)
    chosen = resolve_backend(backend, scene.means.device, scene.means.dtype)
    if tile_size is None:
        tile_size = 8 if chosen == "torch" else 16
    if chosen == "torch":
        from .raster_torch import rasterize_tiled

        return rasterize_tiled.render(scene, tile_size=tile_size)
    if chosen == "gsplat":
        from .raster_gsplat import rasterize_gsplat

        return rasterize_gsplat.render(scene, tile_size=tile_size)
    from .raster_oracles import rasterize_dense

    return rasterize_dense.render(scene)


__all__ = ["BACKENDS", "RasterOutput", "rasterize_gaussians", "resolve_backend"]
