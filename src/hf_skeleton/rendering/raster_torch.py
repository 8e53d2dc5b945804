"""Tiled torch rasterizer (CPU and GPU), same semantics as gsplat's CUDA kernels.

Pipeline:
1. EWA projection (:func:`.projection.project_gaussians`, plain autograd, O(N K)).
2. Binning (no gradients): every visible Gaussian is listed in each ``tile_size``-square tile its
   screen box overlaps, as gsplat's ``isect_tiles``; the lists are depth-sorted (stable, so equal
   depths keep Gaussian order, as gsplat's radix sort).
3. Compositing (:class:`_TiledComposite`, a custom autograd function): non-empty tiles are sorted by
   list length and processed in chunks; a chunk of ``nt`` tiles whose longest list has ``M``
   Gaussians is a dense (nt, M, tile, tile) problem (shorter lists padded with a zero-opacity
   Gaussian), with ``nt`` chosen so that ``nt * M * tile^2`` stays under a fixed element budget.
   Work and memory are O(sum over tiles of tile pixels x list length), never pixels x Gaussians.
   The transmittance is a cumulative product along each pixel's list; gsplat's early stop (the
   Gaussian that would bring T to 1e-4 or below, and all behind it, are dropped) is the mask
   ``cumprod(1 - alpha) > 1e-4``, exact because T is non-increasing.
4. Backward: gsplat's analytic formulas (``dL/dalpha_i = T_i g.f_i - (sum_{j>i} w_j g.f_j) /
   (1 - alpha_i)``, then alpha -> sigma -> conic, mean, opacity with the pixel sums reduced per
   row and column). The per-pair terms (weights, T, alpha, a live mask; 13 bytes per pair in
   float32) are kept from the forward pass when they fit ``cache_bytes``; otherwise each chunk is
   recomputed, so memory stays the forward memory plus one chunk.

Profiling notes (2-core CPU): the cost is a few passes over the (pairs) tensors; ``exp`` of large
negative arguments produces denormals and ran 15x slower, hence the cap on ``sigma`` (any
``sigma > 80`` gives alpha far below 1/255, so the image is unchanged). Smaller tiles waste fewer
pairs on these small splats (about 2x fewer at 8 px than at 16 px for a 224 px body).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .projection import ALPHA_THRESHOLD, GaussianScene, ProjectedGaussians, scene_backend, tile_ranges

T_STOP = 1e-4
SIGMA_CAP = 80.0
DEFAULT_CHUNK_ELEMENTS = 1 << 18
DEFAULT_CACHE_BYTES = 256 << 20


def bin_gaussians(proj: ProjectedGaussians, tile_size: int, tiles_x: int, tiles_y: int):
    """Depth-sorted Gaussian lists per tile.

    Returns:
        pair_gauss: (I,) int64 flat Gaussian index ``n * K + k`` of each (tile, Gaussian) pair,
            grouped by tile (tile order) and front to back inside a tile.
        tile_start: (N * tiles,) int64 offset of each tile's list in ``pair_gauss``.
        tile_count: (N * tiles,) int64 length of each tile's list.
    """
    n_img, n_gauss = proj.depths.shape
    device = proj.depths.device
    n_tiles = tiles_x * tiles_y
    with torch.no_grad():
        lo, hi = tile_ranges(proj, tile_size, tiles_x, tiles_y)
        span = hi - lo
        count = span[..., 0] * span[..., 1]
        key = torch.where(proj.visible, proj.depths.detach(), torch.full_like(proj.depths, math.inf))
        order = torch.argsort(key, dim=-1, stable=True)
        flat = (order + torch.arange(n_img, device=device)[:, None] * n_gauss).reshape(-1)
        count_sorted = count.reshape(-1)[flat]
        pair_gauss = torch.repeat_interleave(flat, count_sorted)
        first = torch.cumsum(count_sorted, 0) - count_sorted
        local = torch.arange(pair_gauss.numel(), device=device) - torch.repeat_interleave(first, count_sorted)
        lo_f, span_f = lo.reshape(-1, 2), span.reshape(-1, 2)
        width_span = span_f[pair_gauss, 0]
        tx = lo_f[pair_gauss, 0] + local % width_span
        ty = lo_f[pair_gauss, 1] + torch.div(local, width_span, rounding_mode="floor")
        tile_key = torch.div(pair_gauss, n_gauss, rounding_mode="floor") * n_tiles + ty * tiles_x + tx
        tile_key, perm = torch.sort(tile_key, stable=True)
        pair_gauss = pair_gauss[perm]
        tile_count = torch.bincount(tile_key, minlength=n_img * n_tiles)
        tile_start = torch.cumsum(tile_count, 0) - tile_count
    return pair_gauss, tile_start, tile_count


def plan_chunks(pair_gauss: Tensor, tile_start: Tensor, tile_count: Tensor, pad_index: int,
                pixels_per_tile: int, budget: int) -> list[tuple[Tensor, Tensor]]:
    """Group non-empty tiles (longest lists first) into chunks of at most ``budget`` pixel-Gaussian pairs.

    Returns a list of ``(tiles, ids)``: (nt,) flat tile indices and (nt, M) Gaussian indices padded
    with ``pad_index``.
    """
    active = torch.nonzero(tile_count, as_tuple=True)[0]
    if active.numel() == 0:
        return []
    counts = tile_count[active]
    counts, order = torch.sort(counts, descending=True, stable=True)
    active = active[order]
    counts_list = counts.tolist()
    chunks = []
    i = 0
    while i < len(counts_list):
        m = counts_list[i]
        nt = max(1, budget // (pixels_per_tile * m))
        tiles = active[i:i + nt]
        j = torch.arange(m, device=pair_gauss.device)
        idx = tile_start[tiles][:, None] + j
        ok = j < counts[i:i + nt][:, None]
        ids = torch.where(ok, pair_gauss[idx.clamp_max(pair_gauss.numel() - 1)], pad_index)
        chunks.append((tiles, ids))
        i += nt
    return chunks


def _deltas(params: Tensor, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
    """Mean minus pixel centre per column (dx) and per row (dy), each (nt, M, T)."""
    return params[:, :, 0, None] - xs[:, None, :], params[:, :, 1, None] - ys[:, None, :]


def _neg_sigma(params: Tensor, xs: Tensor, ys: Tensor):
    """``-sigma`` of every (tile, Gaussian, row, column) of a chunk, bit-identical to gsplat's
    ``0.5 * (a dx dx + c dy dy) + (b dx) dy`` (scaling by -0.5 and negation are exact).

    params: (nt, M, 6) = (mean x, mean y, conic a, b, c, opacity); xs, ys: (nt, T) pixel centres.
    Returns -sigma (nt, M, T, T) and the per-column dx, per-row dy (nt, M, T). The Gaussian axis
    comes before the pixels so that products and sums along it run over contiguous pixel rows.
    """
    _, _, a, b, c, _ = params.unbind(-1)
    dx, dy = _deltas(params, xs, ys)
    half_x = (a[..., None] * dx * dx).mul_(-0.5)
    half_y = (c[..., None] * dy * dy).mul_(-0.5)
    cross_x = (b[..., None] * dx).neg_()
    neg_sigma = half_x[:, :, None, :] + half_y[:, :, :, None]
    neg_sigma.add_(cross_x[:, :, None, :] * dy[:, :, :, None])
    return neg_sigma, dx, dy


def _composite_terms(params: Tensor, xs: Tensor, ys: Tensor, for_backward: bool):
    """Compositing weights ``alpha_i T_i`` of a chunk, (nt, M, T, T); 0 for skipped or stopped Gaussians.

    With ``for_backward`` also returns what the backward pass needs: the inclusive transmittance
    ``T_{i+1}``, the (clamped, masked) alpha, and ``live``, where alpha was composited and not clamped
    at 0.999 (the only places where it has a gradient, as in gsplat's backward kernel).
    """
    alpha = _neg_sigma(params, xs, ys)[0]
    skip = alpha > 0  # sigma < 0
    # exp of large negative arguments is slow (denormals); anything past -SIGMA_CAP is below 1/255 anyway
    alpha.clamp_min_(-SIGMA_CAP).exp_().mul_(params[:, :, None, None, 5])
    clamped = alpha > 0.999 if for_backward else None
    alpha.clamp_max_(0.999)
    skip |= alpha < ALPHA_THRESHOLD
    alpha.masked_fill_(skip, 0.0)
    trans = torch.cumprod(1.0 - alpha, dim=1)
    keep = trans > T_STOP
    if not for_backward:
        alpha[:, 1:].mul_(trans[:, :-1])
        return alpha.mul_(keep)
    weights = torch.empty_like(alpha)
    weights[:, 0] = alpha[:, 0]
    torch.mul(alpha[:, 1:], trans[:, :-1], out=weights[:, 1:])
    weights.mul_(keep)
    live = keep.logical_and_(skip.logical_or_(clamped).logical_not_())
    return weights, trans, alpha, live


def _tile_pixels(tiles: Tensor, tile_size: int, tiles_x: int, n_tiles: int, dtype):
    local = tiles % n_tiles
    ox = (local % tiles_x) * tile_size
    oy = torch.div(local, tiles_x, rounding_mode="floor") * tile_size
    offs = torch.arange(tile_size, device=tiles.device) + 0.5
    return (ox[:, None] + offs).to(dtype), (oy[:, None] + offs).to(dtype)


def _tile_slots(tiles: Tensor, tiles_x: int, n_tiles: int):
    """(image, tile row, tile column) of flat tile indices."""
    local = tiles % n_tiles
    return torch.div(tiles, n_tiles, rounding_mode="floor"), torch.div(local, tiles_x, rounding_mode="floor"), local % tiles_x


class _TiledComposite(torch.autograd.Function):
    """(G + 1, 6) splat parameters and (G + 1, C + 2) features [colour, depth, 1] -> weighted sums.

    Outputs (N, H, W, C) colour sums, (N, H, W) depth sums and (N, H, W) accumulated alpha (the sum
    of the weights, i.e. ``1 - T``), as separate tensors so that unused outputs cost nothing in the
    backward pass.
    """

    @staticmethod
    def forward(ctx, params, feats, chunks, image_size, tile_size, tiles_x, cache_limit):
        n_img, height, width = image_size
        n_ch = feats.shape[-1] - 2
        tiles_y = -(-height // tile_size)
        n_tiles = tiles_x * tiles_y
        # one padded buffer per output, in (image, tile row, y, tile column, x) layout
        bufs = [params.new_zeros(n_img, tiles_y, tile_size, tiles_x, tile_size, c) for c in (n_ch, 1, 1)]
        pairs = sum(ids.numel() for _, ids in chunks) * tile_size * tile_size
        cache = pairs * (3 * params.element_size() + 1) <= cache_limit
        ctx.cache = []
        for tiles, ids in chunks:
            xs, ys = _tile_pixels(tiles, tile_size, tiles_x, n_tiles, params.dtype)
            terms = _composite_terms(params[ids], xs, ys, for_backward=cache)
            weights = terms[0] if cache else terms
            if cache:
                ctx.cache.append(terms)
            nt, m = ids.shape
            res = torch.bmm(feats[ids].transpose(1, 2), weights.view(nt, m, -1))
            res = res.view(nt, -1, tile_size, tile_size).permute(0, 2, 3, 1)
            n, ty, tx = _tile_slots(tiles, tiles_x, n_tiles)
            for buf, part in zip(bufs, res.split([n_ch, 1, 1], dim=-1)):
                buf[n, ty, :, tx, :] = part
        ctx.save_for_backward(params, feats)
        ctx.chunks = chunks
        ctx.geometry = (tile_size, tiles_x, tiles_y, n_tiles, n_img, height, width)
        ctx.set_materialize_grads(False)
        hp, wp = tiles_y * tile_size, tiles_x * tile_size
        rgb, depth, alpha = (buf.view(n_img, hp, wp, buf.shape[-1])[:, :height, :width] for buf in bufs)
        if (hp, wp) != (height, width):
            rgb, depth, alpha = rgb.contiguous(), depth.contiguous(), alpha.contiguous()
        return rgb, depth[..., 0], alpha[..., 0]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_rgb, grad_depth, grad_alpha):
        params, feats = ctx.saved_tensors
        tile_size, tiles_x, tiles_y, n_tiles, n_img, height, width = ctx.geometry
        n_feat = feats.shape[-1]
        grad_params = torch.zeros_like(params)
        grad_feats = torch.zeros_like(feats)
        if grad_rgb is None and grad_depth is None and grad_alpha is None:
            return grad_params, grad_feats, None, None, None, None, None
        hp, wp = tiles_y * tile_size, tiles_x * tile_size
        grad_bufs = []
        for grad, n_c in ((grad_rgb, n_feat - 2), (grad_depth, 1), (grad_alpha, 1)):
            if grad is None:
                grad_bufs.append(None)
                continue
            grad = grad.reshape(n_img, height, width, n_c)
            if (hp, wp) != (height, width):
                grad = torch.nn.functional.pad(grad, (0, 0, 0, wp - width, 0, hp - height))
            grad_bufs.append(grad.reshape(n_img, tiles_y, tile_size, tiles_x, tile_size, n_c))
        for index, (tiles, ids) in enumerate(ctx.chunks):
            nt, m = ids.shape
            n, ty, tx = _tile_slots(tiles, tiles_x, n_tiles)
            g_out = torch.cat([
                g[n, ty, :, tx, :] if g is not None else params.new_zeros(nt, tile_size, tile_size, c)
                for g, c in zip(grad_bufs, (n_feat - 2, 1, 1))
            ], dim=-1).reshape(nt, -1, n_feat)
            xs, ys = _tile_pixels(tiles, tile_size, tiles_x, n_tiles, params.dtype)
            p = params[ids]
            f = feats[ids]
            if ctx.cache:
                weights, trans, alpha, live = ctx.cache[index]
            else:
                weights, trans, alpha, live = _composite_terms(p, xs, ys, for_backward=True)
            dx, dy = _deltas(p, xs, ys)
            w_flat = weights.view(nt, m, -1)
            grad_feats.index_add_(0, ids.reshape(-1), torch.bmm(w_flat, g_out).reshape(-1, n_feat))
            # d out / d alpha_i = T_i f_i - (sum_{j>i} w_j f_j) / (1 - alpha_i), dotted with the output grad
            v = torch.bmm(f, g_out.transpose(1, 2)).view_as(weights)
            later = weights * v
            later = later.sum(1, keepdim=True) - torch.cumsum(later, dim=1)
            g_alpha = v
            g_alpha[:, 1:].mul_(trans[:, :-1])
            g_alpha.sub_(later.div_(1.0 - alpha)).mul_(live)
            # where live, alpha = opacity exp(-sigma): d alpha / d sigma = -alpha, d alpha / d opacity = alpha / opacity
            g_sigma = g_alpha.mul_(alpha).neg_()
            col = g_sigma.sum(2)  # (nt, M, T) summed over rows, one per column
            row = g_sigma.sum(3)  # summed over columns, one per row
            cross = (g_sigma * dy[:, :, :, None]).sum(2)  # sum over rows of g * dy, per column
            _, _, a, b, c, op = p.unbind(-1)
            g_op = -col.sum(-1) / torch.where(op > 0, op, torch.ones_like(op))
            sx = (col * dx).sum(-1)
            sy = (row * dy).sum(-1)
            g_a = 0.5 * (col * dx * dx).sum(-1)
            g_c = 0.5 * (row * dy * dy).sum(-1)
            g_b = (cross * dx).sum(-1)
            g_mx = a * sx + b * sy
            g_my = c * sy + b * sx
            grads = torch.stack([g_mx, g_my, g_a, g_b, g_c, g_op], dim=-1)
            grad_params.index_add_(0, ids.reshape(-1), grads.reshape(-1, 6))
        return grad_params, grad_feats, None, None, None, None, None


@scene_backend
def rasterize_tiled(
    scene: GaussianScene,
    *,
    tile_size: int = 16,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
):
    """Tiled rasterization; arguments as :func:`~hf_skeleton.rendering.rasterizer.rasterize_gaussians`
    (inputs are assumed validated; ``background`` is None or (N, C)).

    ``chunk_elements`` bounds the pixel x Gaussian pairs processed at once. When gradients are
    needed and the per-pair terms of all chunks fit in ``cache_bytes`` (13 bytes per pair in
    float32), the forward pass keeps them for the backward pass; otherwise the backward pass
    recomputes them chunk by chunk, so memory never exceeds the cap plus one chunk.
    """
    from .rasterizer import RasterOutput

    colors, opacities, width, height = scene.colors, scene.opacities, scene.width, scene.height
    n_img, n_gauss, n_ch = colors.shape
    proj = scene.project()
    tiles_x = -(-width // tile_size)
    tiles_y = -(-height // tile_size)
    pair_gauss, tile_start, tile_count = bin_gaussians(proj, tile_size, tiles_x, tiles_y)
    pad = n_img * n_gauss
    chunks = plan_chunks(pair_gauss, tile_start, tile_count, pad, tile_size * tile_size, chunk_elements)

    params = torch.cat([proj.means2d, proj.conics, opacities[..., None]], dim=-1).reshape(-1, 6)
    ones = torch.ones_like(opacities)[..., None]
    feats = torch.cat([colors, proj.depths[..., None], ones], dim=-1).reshape(-1, n_ch + 2)
    params = torch.cat([params, params.new_zeros(1, 6)])
    feats = torch.cat([feats, feats.new_zeros(1, n_ch + 2)])
    needs_grad = torch.is_grad_enabled() and (params.requires_grad or feats.requires_grad)
    rgb, depth_sum, alpha = _TiledComposite.apply(
        params, feats, chunks, (n_img, height, width), tile_size, tiles_x, cache_bytes if needs_grad else -1
    )
    if scene.background is not None:
        rgb = rgb + (1.0 - alpha)[..., None] * scene.background[:, None, None, :]
    depth = depth_sum / alpha.clamp_min(1e-10)
    return RasterOutput(rgb=rgb, alpha=alpha, depth=depth)


__all__ = ["bin_gaussians", "plan_chunks", "rasterize_tiled"]
