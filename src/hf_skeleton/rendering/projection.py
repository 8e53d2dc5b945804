"""EWA projection of 3D Gaussians to the image plane (gsplat 1.5.3 semantics, pinhole camera).

Each Gaussian (mean ``m``, covariance ``S``) is moved to camera space with the world-to-camera
matrix ``[R | t]`` and projected with the local affine approximation of the perspective map
(Zwicker et al., "EWA splatting"): ``S2d = J R S R^T J^T + eps2d * I`` where ``J`` is the Jacobian
of ``(x, y, z) -> (fx x / z + cx, fy y / z + cy)``. As in gsplat, ``x / z`` and ``y / z`` are
clamped to 1.3x the field of view inside ``J`` only, so that Gaussians far off-screen do not get
huge footprints. The screen-space bounding radius is ``ceil(extend * sqrt(S2d_ii))`` with
``extend = 3.33``, tightened to ``sqrt(2 ln(opacity * 255))`` when opacities are given (the
opacity-aware box of gsplat's CUDA kernel). A Gaussian gets radius 0 (culled) when its camera
depth is outside ``[near, far]``, when ``det(S2d) <= 0``, when its opacity is below 1/255, or when
its box lies entirely outside the image.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import KW_ONLY, dataclass, fields

import torch
from torch import Tensor

ALPHA_THRESHOLD = 1.0 / 255.0
EXTEND_SIGMA = 3.33


@dataclass
class ProjectedGaussians:
    """Screen-space Gaussians of N images.

    Attributes:
        means2d: (N, K, 2) pixel coordinates of the centres (x right, y down; pixel centres at +0.5).
        conics: (N, K, 3) upper triangle ``(a, b, c)`` of the inverse 2D covariance.
        depths: (N, K) camera-space z of the centres.
        radii: (N, K, 2) int32 half-extent of the screen box in pixels; 0 means culled.
    """

    means2d: Tensor
    conics: Tensor
    depths: Tensor
    radii: Tensor

    @property
    def visible(self) -> Tensor:
        """(N, K) bool: the Gaussian survives culling (both radii positive, as gsplat's tile binning)."""
        return (self.radii > 0).all(dim=-1)


def world_to_camera(means: Tensor, covariances: Tensor, viewmats: Tensor) -> tuple[Tensor, Tensor]:
    """(N, K, 3), (N, K, 3, 3) world space -> camera space with (N, 4, 4) world-to-camera matrices."""
    rot = viewmats[:, :3, :3]
    trans = viewmats[:, :3, 3]
    means_c = torch.einsum("nij,nkj->nki", rot, means) + trans[:, None, :]
    covs_c = rot[:, None] @ covariances @ rot[:, None].transpose(-1, -2)
    return means_c, covs_c


def project_gaussians(
    means: Tensor,
    covariances: Tensor,
    viewmats: Tensor,
    intrinsics: Tensor,
    width: int,
    height: int,
    *,
    opacities: Tensor | None = None,
    eps2d: float = 0.3,
    near: float = 0.01,
    far: float = 1e10,
) -> ProjectedGaussians:
    """Project (N, K) world-space Gaussians into N pinhole cameras.

    Args:
        means: (N, K, 3) world-space centres.
        covariances: (N, K, 3, 3) world-space covariances.
        viewmats: (N, 4, 4) world-to-camera matrices (OpenCV axes).
        intrinsics: (N, 3, 3) pinhole matrices; skew is ignored, as in gsplat's CUDA kernel.
        width, height: image size in pixels.
        opacities: optional (N, K) opacities for the opacity-aware bounding box and culling.
        eps2d: isotropic dilation added to every 2D covariance.
        near, far: depth range kept.

    Differentiable w.r.t. means, covariances, viewmats and intrinsics (radii are not).
    """
    means_c, covs_c = world_to_camera(means, covariances, viewmats)
    x, y, z = means_c.unbind(-1)
    depth_ok = (z >= near) & (z <= far)
    # Culled Gaussians may sit at z <= 0; a finite stand-in keeps their (unused) gradients finite.
    z_safe = torch.where(depth_ok, z, torch.ones_like(z))

    fx = intrinsics[:, 0, 0, None]
    fy = intrinsics[:, 1, 1, None]
    cx = intrinsics[:, 0, 2, None]
    cy = intrinsics[:, 1, 2, None]
    tan_fovx = 0.5 * width / fx
    tan_fovy = 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + 0.3 * tan_fovx
    lim_x_neg = cx / fx + 0.3 * tan_fovx
    lim_y_pos = (height - cy) / fy + 0.3 * tan_fovy
    lim_y_neg = cy / fy + 0.3 * tan_fovy

    rz = 1.0 / z_safe
    rz2 = rz * rz
    tx = z_safe * torch.minimum(lim_x_pos, torch.maximum(-lim_x_neg, x * rz))
    ty = z_safe * torch.minimum(lim_y_pos, torch.maximum(-lim_y_neg, y * rz))
    zero = torch.zeros_like(z_safe)
    jac = torch.stack(
        [fx * rz, zero, -fx * tx * rz2, zero, fy * rz, -fy * ty * rz2], dim=-1
    ).reshape(*z.shape, 2, 3)
    cov2d = jac @ covs_c @ jac.transpose(-1, -2)
    means2d = torch.stack([fx * x * rz + cx, fy * y * rz + cy], dim=-1)

    c00 = cov2d[..., 0, 0] + eps2d
    c11 = cov2d[..., 1, 1] + eps2d
    c01 = 0.5 * (cov2d[..., 0, 1] + cov2d[..., 1, 0])
    det = c00 * c11 - c01 * c01
    det_ok = det > 0
    det_safe = torch.where(det_ok, det, torch.ones_like(det))
    conics = torch.stack([c11 / det_safe, -c01 / det_safe, c00 / det_safe], dim=-1)

    with torch.no_grad():
        valid = depth_ok & det_ok
        extend = torch.full_like(z, EXTEND_SIGMA)
        if opacities is not None:
            op = opacities.detach()
            valid = valid & (op >= ALPHA_THRESHOLD)
            tight = torch.sqrt(2.0 * torch.log(op.clamp_min(ALPHA_THRESHOLD) / ALPHA_THRESHOLD))
            extend = torch.minimum(extend, tight)
        rx = torch.ceil(extend * torch.sqrt(c00.detach().clamp_min(0)))
        ry = torch.ceil(extend * torch.sqrt(c11.detach().clamp_min(0)))
        valid = valid & ((rx > 0) | (ry > 0))
        mx, my = means2d.detach().unbind(-1)
        inside = (mx + rx > 0) & (mx - rx < width) & (my + ry > 0) & (my - ry < height)
        valid = valid & inside
        radii = torch.stack([rx, ry], dim=-1) * valid[..., None]
        radii = torch.nan_to_num(radii, nan=0.0, posinf=0.0).to(torch.int32)
    return ProjectedGaussians(means2d=means2d, conics=conics, depths=z, radii=radii)


def tile_ranges(proj: ProjectedGaussians, tile_size: int, tiles_x: int, tiles_y: int) -> tuple[Tensor, Tensor]:
    """Tiles overlapped by each Gaussian's box, as gsplat's binning: (N, K, 2) inclusive min, exclusive max.

    Culled Gaussians get an empty range.
    """
    with torch.no_grad():
        centre = proj.means2d.detach() / tile_size
        rad = proj.radii.to(centre.dtype) / tile_size
        lo = torch.floor(centre - rad)
        hi = torch.ceil(centre + rad)
        limit = torch.tensor([tiles_x, tiles_y], device=lo.device, dtype=lo.dtype)
        lo = torch.minimum(lo.clamp_min(0), limit).to(torch.int64)
        hi = torch.minimum(hi.clamp_min(0), limit).to(torch.int64)
        hi = torch.where(proj.visible[..., None], hi, lo)
    return lo, hi


@dataclass(frozen=True)
class GaussianScene:
    """What every rasterization backend renders: N images of K Gaussians, one camera each.

    The arguments of :func:`~hf_skeleton.rendering.rasterizer.rasterize_gaussians` (see there),
    validated by it; ``background`` is None, (C,) or (N, C).
    """

    means: Tensor
    covariances: Tensor
    colors: Tensor
    opacities: Tensor
    viewmats: Tensor
    intrinsics: Tensor
    width: int
    height: int
    _: KW_ONLY
    background: Tensor | None = None
    near: float = 0.01
    far: float = 1e10
    eps2d: float = 0.3

    def project(self) -> ProjectedGaussians:
        """The scene's Gaussians in screen space (:func:`project_gaussians`, opacity-aware)."""
        return project_gaussians(self.means, self.covariances, self.viewmats, self.intrinsics, self.width,
                                 self.height, opacities=self.opacities, eps2d=self.eps2d, near=self.near,
                                 far=self.far)


_SCENE_KEYWORDS = tuple(f.name for f in fields(GaussianScene) if f.kw_only)


def scene_backend(render):
    """Give a rasterizer ``render(scene, **options)`` the rasterizers' common signature.

    The result is called as ``f(means, covariances, colors, opacities, viewmats, intrinsics, width,
    height, *, background=None, near=0.01, far=1e10, eps2d=0.3, **options)`` (the fields of
    :class:`GaussianScene`, then ``render``'s own keyword options); ``f.render`` takes a scene.
    """
    scene_params = list(inspect.signature(GaussianScene).parameters.values())
    own = list(inspect.signature(render).parameters.values())[1:]

    @functools.wraps(render)
    def rasterizer(*args, **kwargs):
        scene = GaussianScene(*args, **{k: kwargs.pop(k) for k in _SCENE_KEYWORDS if k in kwargs})
        return render(scene, **kwargs)

    rasterizer.__signature__ = inspect.signature(render).replace(parameters=scene_params + own)
    rasterizer.render = render
    return rasterizer


__all__ = ["ALPHA_THRESHOLD", "GaussianScene", "ProjectedGaussians", "project_gaussians", "scene_backend",
           "tile_ranges", "world_to_camera"]
