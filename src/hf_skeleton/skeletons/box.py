"""Box normalisation: the one definition of scaling motion into [-1, 1] by its bounding box.

VGMT and Superman read motion "like the authors' data": each clip minus the centre of its bounding box
(observed joints, all frames), divided by half the box's largest side, so every coordinate lies in
[-1, 1]. :func:`box_normalize` does it, :func:`box_denormalize` undoes it, and
:func:`box_normalize_like` applies the box of one reference clip to others (Superman's prediction
and in-betweening normalise the target with the box of what the model observes).

The root-centred, bone-length normalisation of the understanding models is the other kind
(:func:`hf_skeleton.skeletons.transforms.normalize`).

Shapes: positions (B, T, J, 3), mask (B, T, J); centre (B, 1, 1, 3) and scale (B, 1, 1, 1), so
``positions = normalised * scale + centre``.
"""

from __future__ import annotations

import torch

BOX_EPS = 1e-6


def box_of(positions: torch.Tensor, mask: torch.Tensor | None = None,
           eps: float = BOX_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre (B, 1, 1, 3) and half the largest side (B, 1, 1, 1, at least ``eps``) of each clip's box
    over its observed joints; a clip with nothing observed gets centre 0 and scale ``eps``."""
    if mask is None:
        mask = torch.ones(positions.shape[:-1], dtype=torch.bool, device=positions.device)
    m = mask[..., None]
    big = torch.finfo(positions.dtype).max
    lo = torch.where(m, positions, big).amin(dim=(1, 2), keepdim=True)
    hi = torch.where(m, positions, -big).amax(dim=(1, 2), keepdim=True)
    empty = ~mask.flatten(1).any(1)
    lo[empty], hi[empty] = 0.0, 0.0
    centre = (lo + hi) / 2
    scale = ((hi - lo) / 2).amax(-1, keepdim=True).clamp_min(eps)
    return centre, scale


def box_normalize(positions: torch.Tensor, mask: torch.Tensor | None = None, eps: float = BOX_EPS):
    """Scale each clip into [-1, 1] by its own box (masked joints become 0).

    positions (B, T, J, 3), mask (B, T, J) -> (normalised positions, centre (B, 1, 1, 3), scale (B, 1, 1, 1));
    ``positions = normalised * scale + centre`` (:func:`box_denormalize`).
    """
    centre, scale = box_of(positions, mask, eps)
    if mask is None:
        mask = torch.ones(positions.shape[:-1], dtype=torch.bool, device=positions.device)
    return torch.where(mask[..., None], (positions - centre) / scale, 0.0), centre, scale


def box_denormalize(normalized: torch.Tensor, centre: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`box_normalize`: ``normalized * scale + centre`` (shapes broadcast)."""
    return normalized * scale + centre


def box_normalize_like(reference: torch.Tensor, *motions: torch.Tensor):
    """Normalise ``motions`` (each (T, J, 3)) with the box of ``reference`` (T_r, J, 3).

    Returns ``(list of normalised motions, centre (1, 1, 3), scale (1, 1, 1))``; ``x = n * scale + centre``.
    """
    centre, scale = box_of(reference[None])
    return [(m - centre[0]) / scale[0] for m in motions], centre[0], scale[0]


__all__ = ["BOX_EPS", "box_denormalize", "box_normalize", "box_normalize_like", "box_of"]
