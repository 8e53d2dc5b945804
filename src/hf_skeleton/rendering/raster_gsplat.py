"""gsplat backend: ``gsplat.rasterization`` for CUDA float32 tensors (imported lazily).

gsplat's CUDA kernels are built just in time on first use and exist only for CUDA, so this module
imports gsplat inside the function and refuses CPU tensors before touching it.
"""

from __future__ import annotations

import torch

from ..errors import HFSkeletonError, SkeletonInputError
from .projection import GaussianScene, scene_backend


@scene_backend
def rasterize_gsplat(scene: GaussianScene, *, tile_size: int = 16):
    """Same contract as :func:`~hf_skeleton.rendering.rasterizer.rasterize_gaussians` (validated
    inputs, ``background`` None or (N, C)); the N images are gsplat batch dimensions with one camera
    each, rendered unpacked in "RGB+ED" mode. Not differentiable w.r.t. ``intrinsics`` (gsplat)."""
    from .rasterizer import RasterOutput

    means, colors, background = scene.means, scene.colors, scene.background
    if means.device.type != "cuda":
        raise HFSkeletonError(
            f"gsplat's rasterizer needs CUDA tensors (got tensors on {means.device}); use backend='torch'"
        )
    if means.dtype != torch.float32:
        raise SkeletonInputError("means", "float32 tensors for backend='gsplat' (its CUDA kernels are float32)",
                                 means.dtype)
    from gsplat import rasterization

    n_ch = colors.shape[-1]
    render, alphas, _ = rasterization(
        means,
        None,
        None,
        scene.opacities,
        colors,
        scene.viewmats[:, None],
        scene.intrinsics[:, None],
        scene.width,
        scene.height,
        near_plane=scene.near,
        far_plane=scene.far,
        eps2d=scene.eps2d,
        tile_size=tile_size,
        packed=False,
        backgrounds=None if background is None else background[:, None, :],
        render_mode="RGB+ED",
        covars=scene.covariances,
    )
    render = render[:, 0]
    return RasterOutput(rgb=render[..., :n_ch], alpha=alphas[:, 0, ..., 0], depth=render[..., n_ch])


__all__ = ["rasterize_gsplat"]
