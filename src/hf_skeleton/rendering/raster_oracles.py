"""Reference rasterizers used as test oracles (slow; not for training).

- :func:`rasterize_dense`: every pixel against every Gaussian with plain autograd, chunked over
  pixels (and checkpointed per chunk when gradients are needed). Any float dtype.
- :func:`rasterize_scalar`: a per-pixel, per-Gaussian Python transcription of gsplat 1.5.3's CUDA
  projection and forward rasterization kernels in Python floats (float64). Tiny sizes only.

Both follow gsplat's semantics: ``sigma = 0.5 (a dx^2 + c dy^2) + b dx dy`` with ``d = mean - pixel``
and pixel centres at ``+0.5``; ``alpha = min(0.999, opacity exp(-sigma))``; contributions with
``sigma < 0`` or ``alpha < 1/255`` are skipped; front to back by camera depth; a pixel stops (the
offending Gaussian excluded) as soon as its transmittance would fall to ``1e-4`` or below.
"""

from __future__ import annotations

import math

import torch
from torch.utils.checkpoint import checkpoint

from .projection import ALPHA_THRESHOLD, EXTEND_SIGMA, GaussianScene, scene_backend

T_STOP = 1e-4


def _composite_dense(means2d, conics, opacities, feats, pix):
    """(N, K, ...) depth-sorted Gaussians against (P, 2) pixel centres -> (N, P, F) sums, (N, P) T."""
    dx = means2d[:, None, :, 0] - pix[None, :, None, 0]
    dy = means2d[:, None, :, 1] - pix[None, :, None, 1]
    a, b, c = (conics[:, None, :, i] for i in range(3))
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
    alpha = torch.clamp_max(opacities[:, None, :] * torch.exp(-sigma), 0.999)
    valid = (sigma >= 0) & (alpha >= ALPHA_THRESHOLD)
    alpha = torch.where(valid, alpha, torch.zeros_like(alpha))
    t_incl = torch.cumprod(1.0 - alpha, dim=-1)
    keep = t_incl > T_STOP
    t_excl = torch.cat([torch.ones_like(t_incl[..., :1]), t_incl[..., :-1]], dim=-1)
    weights = torch.where(keep, alpha * t_excl, torch.zeros_like(alpha))
    # a leading 1 keeps the minimum defined when there are no Gaussians
    t_final = torch.cat([t_incl.new_ones(*t_incl.shape[:-1], 1), torch.where(keep, t_incl, 1.0)], -1).amin(dim=-1)
    return weights @ feats, t_final


@scene_backend
def rasterize_dense(scene: GaussianScene, *, pixel_chunk: int = 4096):
    """Dense oracle with the arguments of :func:`~hf_skeleton.rendering.rasterizer.rasterize_gaussians`.

    Time is O(N x H x W x K). Without gradients memory is O(N x pixel_chunk x K); with gradients
    each chunk is checkpointed, but autograd still keeps part of every chunk (about 7 GB for 16
    frames of 265 Gaussians at 224x224), so keep oracle backward passes to test sizes.
    Returns a :class:`~hf_skeleton.rendering.rasterizer.RasterOutput`.
    """
    from .rasterizer import RasterOutput

    means, colors, opacities, background = scene.means, scene.colors, scene.opacities, scene.background
    width, height = scene.width, scene.height
    n_img, n_gauss, n_ch = colors.shape
    proj = scene.project()
    visible = proj.visible
    # Culled Gaussians go to the back with opacity 0: they then never contribute.
    sort_key = torch.where(visible, proj.depths.detach(), torch.full_like(proj.depths, math.inf))
    order = torch.argsort(sort_key, dim=-1, stable=True)

    def take(x):
        idx = order.reshape(n_img, n_gauss, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
        return torch.gather(x, 1, idx)

    means2d = take(proj.means2d)
    conics = take(proj.conics)
    opac = take(torch.where(visible, opacities, torch.zeros_like(opacities)))
    feats = take(torch.cat([colors, proj.depths[..., None]], dim=-1))

    ys, xs = torch.meshgrid(
        torch.arange(height, device=means.device, dtype=means.dtype),
        torch.arange(width, device=means.device, dtype=means.dtype),
        indexing="ij",
    )
    pix = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1) + 0.5
    sums, trans = [], []
    needs_grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in (means2d, conics, opac, feats)
    )
    for start in range(0, pix.shape[0], pixel_chunk):
        chunk = pix[start:start + pixel_chunk]
        if needs_grad:
            s, t = checkpoint(_composite_dense, means2d, conics, opac, feats, chunk, use_reentrant=False)
        else:
            s, t = _composite_dense(means2d, conics, opac, feats, chunk)
        sums.append(s)
        trans.append(t)
    sums = torch.cat(sums, dim=1).reshape(n_img, height, width, n_ch + 1)
    t_final = torch.cat(trans, dim=1).reshape(n_img, height, width)
    alpha = 1.0 - t_final
    rgb = sums[..., :n_ch]
    if background is not None:
        bg = background if background.dim() == 2 else background[None].expand(n_img, -1)
        rgb = rgb + t_final[..., None] * bg[:, None, None, :]
    depth = sums[..., n_ch] / alpha.clamp_min(1e-10)
    return RasterOutput(rgb=rgb, alpha=alpha, depth=depth)


def _project_scalar(mean, cov, view, k, width, height, opacity, eps2d, near, far):
    """One Gaussian into one camera, as gsplat's fused EWA projection kernel (None when culled)."""
    rot = [[view[i][j] for j in range(3)] for i in range(3)]
    mc = [sum(rot[i][j] * mean[j] for j in range(3)) + view[i][3] for i in range(3)]
    if mc[2] < near or mc[2] > far:
        return None
    rs = [[sum(rot[i][m] * cov[m][j] for m in range(3)) for j in range(3)] for i in range(3)]
    cc = [[sum(rs[i][m] * rot[j][m] for m in range(3)) for j in range(3)] for i in range(3)]
    fx, fy, cx, cy = k[0][0], k[1][1], k[0][2], k[1][2]
    x, y, z = mc
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    lim_xp, lim_xn = (width - cx) / fx + 0.3 * tan_fovx, cx / fx + 0.3 * tan_fovx
    lim_yp, lim_yn = (height - cy) / fy + 0.3 * tan_fovy, cy / fy + 0.3 * tan_fovy
    rz = 1.0 / z
    tx = z * min(lim_xp, max(-lim_xn, x * rz))
    ty = z * min(lim_yp, max(-lim_yn, y * rz))
    jac = [[fx * rz, 0.0, -fx * tx * rz * rz], [0.0, fy * rz, -fy * ty * rz * rz]]
    jc = [[sum(jac[i][m] * cc[m][j] for m in range(3)) for j in range(3)] for i in range(2)]
    c2 = [[sum(jc[i][m] * jac[j][m] for m in range(3)) for j in range(2)] for i in range(2)]
    c00, c11 = c2[0][0] + eps2d, c2[1][1] + eps2d
    c01 = 0.5 * (c2[0][1] + c2[1][0])
    det = c00 * c11 - c01 * c01
    if det <= 0 or opacity < ALPHA_THRESHOLD:
        return None
    extend = min(EXTEND_SIGMA, math.sqrt(2.0 * math.log(opacity / ALPHA_THRESHOLD)))
    rx, ry = math.ceil(extend * math.sqrt(c00)), math.ceil(extend * math.sqrt(c11))
    if rx <= 0 and ry <= 0:
        return None
    u, v = fx * x * rz + cx, fy * y * rz + cy
    if u + rx <= 0 or u - rx >= width or v + ry <= 0 or v - ry >= height:
        return None
    return (u, v), (c11 / det, -c01 / det, c00 / det), z


@scene_backend
def rasterize_scalar(scene: GaussianScene):
    """Scalar transcription (Python loops, float64) of gsplat's projection + forward kernels.

    Returns a float64 :class:`~hf_skeleton.rendering.rasterizer.RasterOutput` (no gradients).
    """
    from .rasterizer import RasterOutput

    background, width, height = scene.background, scene.width, scene.height
    eps2d, near, far = scene.eps2d, scene.near, scene.far
    n_img, n_gauss, n_ch = scene.colors.shape
    m, s, col, op = (t.tolist() for t in (scene.means, scene.covariances, scene.colors, scene.opacities))
    vm, ks = scene.viewmats.tolist(), scene.intrinsics.tolist()
    if background is None:
        bgs = [[0.0] * n_ch for _ in range(n_img)]
    elif background.dim() == 1:
        bgs = [background.tolist()] * n_img
    else:
        bgs = background.tolist()
    rgb = [[[[0.0] * n_ch for _ in range(width)] for _ in range(height)] for _ in range(n_img)]
    acc = [[[0.0] * width for _ in range(height)] for _ in range(n_img)]
    dep = [[[0.0] * width for _ in range(height)] for _ in range(n_img)]
    for n in range(n_img):
        splats = []
        for g in range(n_gauss):
            p = _project_scalar(m[n][g], s[n][g], vm[n], ks[n], width, height, op[n][g], eps2d, near, far)
            if p is not None:
                splats.append((p[2], g, p))
        splats.sort(key=lambda item: (item[0], item[1]))
        for i in range(height):
            for j in range(width):
                px, py = j + 0.5, i + 0.5
                t = 1.0
                out = [0.0] * (n_ch + 1)
                for depth, g, ((u, v), (a, b, c), _) in splats:
                    dx, dy = u - px, v - py
                    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
                    alpha = min(0.999, op[n][g] * math.exp(-sigma))
                    if sigma < 0 or alpha < ALPHA_THRESHOLD:
                        continue
                    next_t = t * (1.0 - alpha)
                    if next_t <= T_STOP:
                        break
                    vis = alpha * t
                    for ch in range(n_ch):
                        out[ch] += col[n][g][ch] * vis
                    out[n_ch] += depth * vis
                    t = next_t
                rgb[n][i][j] = [out[ch] + t * bgs[n][ch] for ch in range(n_ch)]
                acc[n][i][j] = 1.0 - t
                dep[n][i][j] = out[n_ch] / max(1.0 - t, 1e-10)
    f64 = {"dtype": torch.float64}
    return RasterOutput(rgb=torch.tensor(rgb, **f64), alpha=torch.tensor(acc, **f64), depth=torch.tensor(dep, **f64))


__all__ = ["rasterize_dense", "rasterize_scalar"]
