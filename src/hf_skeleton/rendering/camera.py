"""Pinhole cameras for skeleton clips: auto-framing, named views, multi-view grids, authors' mode.

Conventions: world-to-camera ``viewmats`` (4, 4) in OpenCV axes (x right, y down, z forward),
intrinsics ``[[f, 0, W/2], [0, f, H/2], [0, 0, 1]]``.

Auto-framing (the default) places one fixed camera per clip and view so that every observed
joint of every frame and person, grown by the largest Gaussian radius, projects inside the
image with a margin: the body is never outside and never empty. The authors' camera (at the
sensor origin looking down +z, 60 degree field of view, image y flipped, no framing) is
available as ``mode="authors"``; with it bodies can fall outside the image.

Views are relative to the body by default (``view_frame="body"``): ``front`` looks at the
person's front, estimated from the left/right mirror joints of the canonical pose
(:func:`hf_skeleton.skeletons.geometry.body_facing`, the facing ``align_view`` turns towards the
sensor, so the front view of a clip equals the sensor's view of the view-aligned clip); with
``view_frame="data"`` (or when no facing can be estimated) ``front`` looks along the data's
forward axis, as the capturing sensor did. Image-plane formats (``dims == 2``, y down, z = 0)
are rendered in their own image plane.
"""

from __future__ import annotations

import math

import torch

from ..errors import SkeletonInputError
from ..skeletons.formats import SkeletonFormat
from ..skeletons.geometry import body_facing as geometry_body_facing
from ..skeletons.geometry import sensor_forward, up_vector

VIEWS = ("front", "back", "left", "right", "side", "top")


def data_axes(up_axis: str, dtype=torch.float32, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit up vector and sensor forward vector (3,) of an up axis (:mod:`hf_skeleton.skeletons.geometry`)."""
    return (torch.as_tensor(up_vector(up_axis), dtype=dtype, device=device),
            torch.as_tensor(sensor_forward(up_axis), dtype=dtype, device=device))


def body_facing(canonical: torch.Tensor, canonical_mask: torch.Tensor, fmt: SkeletonFormat,
                fallback: torch.Tensor) -> torch.Tensor:
    """Horizontal facing direction (B, 3) of each clip from its canonical pose (B, P, J, 3), without gradients.

    :func:`hf_skeleton.skeletons.geometry.body_facing` (the facing ``align_view`` also uses) in the
    pose's float precision; ``fallback`` (3,) where it finds none.
    """
    pose = canonical.detach()
    if pose.dtype not in (torch.float32, torch.float64):  # numpy has no bfloat16
        pose = pose.float()
    facing, found = geometry_body_facing(pose.cpu().numpy(), canonical_mask.detach().cpu().numpy(), fmt)
    facing = torch.from_numpy(facing).to(device=canonical.device, dtype=canonical.dtype)
    found = torch.from_numpy(found).to(canonical.device)
    return torch.where(found[:, None], facing, fallback.to(facing).expand_as(facing))


def view_rotation(view: str, up: torch.Tensor, facing: torch.Tensor) -> torch.Tensor:
    """World-to-camera rotations (B, 3, 3) (rows: camera x, y, z axes) for a named view.

    ``front`` looks at the person's front, ``back`` at the back, ``left``/``side`` from the
    person's left, ``right`` from the right, ``top`` from above (the person's front up in the
    image). ``up`` (3,), ``facing`` (B, 3) unit horizontal vectors.
    """
    up = up.to(facing).expand_as(facing)
    left = torch.linalg.cross(up, facing, dim=-1)
    if view == "front":
        z, down = -facing, -up
    elif view == "back":
        z, down = facing, -up
    elif view in ("left", "side"):
        z, down = -left, -up
    elif view == "right":
        z, down = left, -up
    elif view == "top":
        z, down = -up, -facing
    else:
        raise SkeletonInputError("view", f"one of {VIEWS}", view)
    z = z / z.norm(dim=-1, keepdim=True)
    y = down - (down * z).sum(-1, keepdim=True) * z
    y = y / y.norm(dim=-1, keepdim=True)
    x = torch.linalg.cross(y, z, dim=-1)
    return torch.stack([x, y, z], dim=-2)


def intrinsics_matrix(fov_deg: float, width: int, height: int, batch: tuple[int, ...] = (),
                      dtype=torch.float32, device=None) -> torch.Tensor:
    """Pinhole intrinsics (*batch, 3, 3) with horizontal field of view ``fov_deg`` and square pixels."""
    f = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    K = torch.tensor([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]], dtype=dtype, device=device)
    return K.expand(*batch, 3, 3).clone()


def fit_camera(points: torch.Tensor, valid: torch.Tensor, rotation: torch.Tensor, *, fov_deg: float,
               width: int, height: int, margin: float, radius: torch.Tensor) -> torch.Tensor:
    """World-to-camera matrices (B, 4, 4) that frame every valid point.

    Args:
        points: (B, N, 3) world points; ``valid`` (B, N) bool.
        rotation: (B, 3, 3) world-to-camera rotation (the view direction).
        margin: fraction of the image width/height kept free on each side (0 <= margin < 0.5).
        radius: (B,) extent added around every point (the largest Gaussian's 3-sigma radius).

    The camera looks at the centre of the points' box; its distance is the smallest at which
    every point, grown by ``radius``, lies within the image shrunk by the margin.
    """
    B = points.shape[0]
    q = (rotation.unsqueeze(1) @ points.unsqueeze(-1)).squeeze(-1)  # (B, N, 3) in camera axes
    big = torch.finfo(q.dtype).max
    vmask = valid.unsqueeze(-1)
    lo = torch.where(vmask, q, torch.full_like(q, big)).amin(dim=1)
    hi = torch.where(vmask, q, torch.full_like(q, -big)).amax(dim=1)
    empty = ~valid.any(dim=1)
    lo = torch.where(empty[:, None], torch.zeros_like(lo), lo)
    hi = torch.where(empty[:, None], torch.zeros_like(hi), hi)
    centre = 0.5 * (lo + hi)  # (B, 3)
    r = radius.to(q).clamp_min(1e-6)
    tan_x = math.tan(math.radians(fov_deg) / 2.0) * (1.0 - 2.0 * margin)
    tan_y = tan_x * height / width
    rel = q - centre.unsqueeze(1)
    need_x = (rel[..., 0].abs() + r[:, None]) / tan_x - rel[..., 2] + r[:, None]
    need_y = (rel[..., 1].abs() + r[:, None]) / tan_y - rel[..., 2] + r[:, None]
    need = torch.maximum(need_x, need_y)
    dist = torch.where(valid, need, torch.full_like(need, -big)).amax(dim=1)
    # keep every point well in front of the camera, and the framing finite for an empty clip
    front = (centre[:, 2] - lo[:, 2]) + 2.0 * r
    dist = torch.maximum(torch.maximum(dist, front), r / tan_x)
    eye = torch.stack([centre[:, 0], centre[:, 1], centre[:, 2] - dist], dim=-1)  # in camera axes
    view = torch.zeros(B, 4, 4, dtype=q.dtype, device=q.device)
    view[:, :3, :3] = rotation
    view[:, :3, 3] = -eye
    view[:, 3, 3] = 1.0
    return view


def authors_camera(batch: int, *, width: int, height: int, fov_deg: float = 60.0, dtype=torch.float32,
                   device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The released DrAction camera: at the origin, looking down +z, image y flipped, no framing.

    Returns viewmats (B, 4, 4) = diag(1, -1, 1, 1) and intrinsics (B, 3, 3).
    """
    view = torch.diag(torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=dtype, device=device)).expand(batch, 4, 4).clone()
    return view, intrinsics_matrix(fov_deg, width, height, (batch,), dtype, device)


def clip_cameras(
    positions: torch.Tensor,
    mask: torch.Tensor,
    fmt: SkeletonFormat,
    views: tuple[str, ...] = ("front",),
    *,
    width: int,
    height: int,
    fov_deg: float = 60.0,
    margin: float = 0.08,
    radius: torch.Tensor | None = None,
    view_frame: str = "body",
    canonical: torch.Tensor | None = None,
    canonical_mask: torch.Tensor | None = None,
    mode: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cameras for a batch of clips, one per clip and view, computed without gradients.

    Args:
        positions: (B, T, P, J, 3) joint positions (all frames of the clip); ``mask`` (B, T, P, J).
        fmt: the skeleton format (up axis, mirror pairs, dims).
        views: names from :data:`VIEWS`, one camera each.
        radius: (B,) largest Gaussian 3-sigma radius per clip (default: 0).
        canonical, canonical_mask: (B, P, J, 3), (B, P, J) pose that defines the body's facing
            (default: first frame).
        mode: ``"auto"`` (framing) or ``"authors"`` (fixed released camera).

    Returns:
        viewmats (B, V, 4, 4) and intrinsics (B, V, 3, 3).
    """
    if positions.dim() != 5 or positions.shape[-1] != 3:
        raise SkeletonInputError("positions", "a tensor of shape (B, T, P, J, 3)", tuple(positions.shape))
    B, T, P, J, _ = positions.shape
    V = len(views)
    with torch.no_grad():
        positions = positions.detach()
        if mode == "authors":
            view, K = authors_camera(B * V, width=width, height=height, fov_deg=fov_deg, dtype=positions.dtype,
                                     device=positions.device)
            return view.view(B, V, 4, 4), K.view(B, V, 3, 3)
        if mode != "auto":
            raise SkeletonInputError("camera mode", "'auto' or 'authors'", mode)
        if view_frame not in ("body", "data"):
            raise SkeletonInputError("view_frame", "'body' or 'data'", view_frame)
        up, forward = data_axes(fmt.up_axis, positions.dtype, positions.device)
        facing = (-forward).expand(B, 3).clone()
        if fmt.dims == 3 and view_frame == "body":
            if canonical is None:
                canonical, canonical_mask = positions[:, 0], mask[:, 0]
            facing = body_facing(canonical, canonical_mask, fmt, -forward)
        points = positions.reshape(B, T * P * J, 3)
        valid = mask.reshape(B, T * P * J)
        r = torch.zeros(B, dtype=positions.dtype, device=positions.device) if radius is None else radius.detach()
        viewmats = torch.stack([
            fit_camera(points, valid, view_rotation(v, up, facing), fov_deg=fov_deg, width=width,
                       height=height, margin=margin, radius=r)
            for v in views], dim=1)
        K = intrinsics_matrix(fov_deg, width, height, (B, V), positions.dtype, positions.device)
    return viewmats, K


def grid_shape(num_views: int) -> tuple[int, int]:
    """(rows, cols) of a near-square grid for ``num_views`` tiles."""
    cols = math.ceil(math.sqrt(num_views))
    return math.ceil(num_views / cols), cols


def tile_views(tiles: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Tile V square views (..., V, S, S, C) into one image (..., rows * S, cols * S, C).

    Empty grid cells get ``background`` (C,).
    """
    *lead, V, S, S2, C = tiles.shape
    rows, cols = grid_shape(V)
    pad = rows * cols - V
    if pad:
        fill = background.to(tiles).expand(*lead, pad, S, S2, C)
        tiles = torch.cat([tiles, fill], dim=-4)
    grid = tiles.reshape(*lead, rows, cols, S, S2, C)
    n = len(lead)
    grid = grid.permute(*range(n), n, n + 2, n + 1, n + 3, n + 4)  # (..., rows, S, cols, S2, C)
    return grid.reshape(*lead, rows * S, cols * S2, C)
