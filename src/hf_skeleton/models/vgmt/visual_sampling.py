"""Deformable Visual-Skeleton Attention: visual features sampled around the 2D joints.

For every frame and joint (the query), and for every head h and feature level l, the module predicts
``num_points`` offsets (in feature-map pixels of level l, zero-initialised so every point starts on
the joint) and attention weights (softmax over the points). Value maps (a 1x1 projection of each
level, split into heads) are sampled bilinearly with ``F.grid_sample(align_corners=False)`` at
joint + offset, weighted and summed over points; the per-level results are concatenated over levels.
The query is the feature vector read at the joint itself on every level, plus a learned joint
embedding so joints can learn different sampling patterns.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import SkeletonInputError


class VisualSkeletonAttention(nn.Module):
    """Samples multi-level feature maps at 2D joints.

    Args:
        level_channels: channels C_l of each sampled level; each must divide by ``num_heads``.
        num_joints: J (queries per frame).
        num_heads, num_points: heads and sampling points per head and level.
    """

    def __init__(self, level_channels: Sequence[int], num_joints: int, num_heads: int = 8, num_points: int = 4):
        super().__init__()
        self.level_channels = [int(c) for c in level_channels]
        for c in self.level_channels:
            if c % num_heads:
                raise SkeletonInputError("vision backbone channels", f"multiples of num_heads={num_heads}",
                                         self.level_channels)
        self.num_heads, self.num_points, self.num_levels = num_heads, num_points, len(self.level_channels)
        self.out_channels = sum(self.level_channels)
        self.value_proj = nn.ModuleList(nn.Conv2d(c, c, 1) for c in self.level_channels)
        self.joint_embed = nn.Embedding(num_joints, self.out_channels)
        n = num_heads * self.num_levels * num_points
        self.sampling_offsets = nn.Linear(self.out_channels, n * 2)
        self.attention_weights = nn.Linear(self.out_channels, n)

    def forward(self, feature_maps: Sequence[torch.Tensor], points: torch.Tensor) -> torch.Tensor:
        """feature_maps: L tensors (N, C_l, H_l, W_l); points (N, J, 2) as (x, y) in [-1, 1]
        (grid_sample convention: -1 and 1 are the outer edges of the image). Returns (N, J, sum C_l)."""
        if len(feature_maps) != self.num_levels:
            raise SkeletonInputError("feature_maps", f"{self.num_levels} levels", len(feature_maps))
        N, J, _ = points.shape
        H, L, P = self.num_heads, self.num_levels, self.num_points
        points = points.to(feature_maps[0].dtype)
        grid0 = points[:, :, None, :]  # (N, J, 1, 2)
        ref = [F.grid_sample(f, grid0, mode="bilinear", padding_mode="zeros", align_corners=False)[..., 0]
               for f in feature_maps]  # (N, C_l, J)
        query = torch.cat(ref, 1).transpose(1, 2) + self.joint_embed.weight[None]  # (N, J, sumC)
        offsets = self.sampling_offsets(query).view(N, J, H, L, P, 2)
        weights = self.attention_weights(query).view(N, J, H, L, P).softmax(-1)
        out = []
        for lvl, (fmap, proj) in enumerate(zip(feature_maps, self.value_proj)):
            C, Hl, Wl = fmap.shape[1:]
            value = proj(fmap).reshape(N * H, C // H, Hl, Wl)
            # offsets are in feature pixels of this level; 2 / size converts to normalised units
            scale = points.new_tensor([2.0 / Wl, 2.0 / Hl])
            loc = points[:, :, None, None, :] + offsets[:, :, :, lvl] * scale  # (N, J, H, P, 2)
            loc = loc.permute(0, 2, 1, 3, 4).reshape(N * H, J, P, 2)
            sampled = F.grid_sample(value, loc, mode="bilinear", padding_mode="zeros", align_corners=False)
            w = weights[:, :, :, lvl].permute(0, 2, 1, 3).reshape(N * H, 1, J, P)
            out.append((sampled * w).sum(-1).view(N, C, J))  # heads back to channels
        return torch.cat(out, 1).transpose(1, 2)
