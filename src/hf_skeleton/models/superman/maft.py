"""MAFT: pose-aware fine-tuning of the vision tokens (Superman, optional).

A deformable sampler reads the ViT feature map around each 2D joint detection (per head: a query
from the feature at the joint predicts ``num_points`` offsets and softmax weights), giving one
pose feature per joint. The ViT tokens then cross-attend to these pose features (tokens are the
queries, pose features the keys/values), followed by an FFN. Both residual branches are scaled by
``tanh`` gates that start at 0, so MAFT starts as the identity and does not disturb a pretrained VLM.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init


class DeformablePoseSampler(nn.Module):
    """Features at 2D joints with learned offsets (Deformable-DETR style, one level).

    Args:
        dim: feature width C.
        num_joints: J (a learned embedding per joint joins the query).
        num_heads, num_points: heads and sampling points per head.
        offset_scale: offsets are ``tanh``-bounded to this many feature cells.
    """

    def __init__(
        self, dim: int, num_joints: int, num_heads: int = 8, num_points: int = 4, offset_scale: float = 2.0
    ):
        super().__init__()
        self.num_heads, self.num_points, self.offset_scale = num_heads, num_points, offset_scale
        self.joint_embed = nn.Parameter(torch.zeros(num_joints, dim))
        self.offsets = nn.Linear(dim, num_heads * num_points * 2)
        self.weights = nn.Linear(dim, num_heads * num_points)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def reset_parameters(self) -> None:
        # Offsets start on a ring: head h looks in direction 2*pi*h/H, point p at radius (p+1)/(P+1).
        init.zeros_(self.offsets.weight)
        angle = torch.arange(self.num_heads, dtype=torch.float32) * (2 * math.pi / self.num_heads)
        direction = torch.stack([angle.cos(), angle.sin()], -1)  # (H, 2)
        radius = torch.arange(1, self.num_points + 1, dtype=torch.float32) / (self.num_points + 1)
        ring = direction[:, None, :] * radius[None, :, None]  # (H, P, 2), inside (-1, 1)
        init.copy_(self.offsets.bias, torch.atanh(ring).flatten())
        init.zeros_(self.weights.weight)
        init.zeros_(self.weights.bias)
        init.normal_(self.joint_embed, std=0.02)
        for lin in (self.value, self.out):
            init.xavier_uniform_(lin.weight)
            init.zeros_(lin.bias)

    def forward(self, features: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
        """features (N, h, w, C), keypoints (N, J, 2) as (x, y) in [0, 1] of the image -> (N, J, C)."""
        N, h, w, C = features.shape
        J = keypoints.shape[1]
        H, P, d = self.num_heads, self.num_points, C // self.num_heads
        fmap = features.permute(0, 3, 1, 2)  # (N, C, h, w)
        ref = keypoints.to(features.dtype) * 2 - 1  # grid_sample coordinates
        query = F.grid_sample(fmap, ref[:, :, None, :], align_corners=False)[..., 0].transpose(1, 2)
        query = query + self.joint_embed[:J]
        cells = torch.tensor([2.0 / w, 2.0 / h], dtype=features.dtype, device=features.device)
        offset = torch.tanh(self.offsets(query)).view(N, J, H, P, 2) * self.offset_scale * cells
        weight = self.weights(query).view(N, J, H, P).softmax(-1)
        loc = (ref[:, :, None, None, :] + offset).permute(0, 2, 1, 3, 4).reshape(N * H, J, P, 2)
        value = self.value(features).view(N, h, w, H, d).permute(0, 3, 4, 1, 2).reshape(N * H, d, h, w)
        sampled = F.grid_sample(value, loc, align_corners=False)  # (N*H, d, J, P)
        sampled = sampled.view(N, H, d, J, P)
        pooled = (sampled * weight.permute(0, 2, 1, 3)[:, :, None]).sum(-1)  # (N, H, d, J)
        return self.out(pooled.permute(0, 3, 1, 2).reshape(N, J, C))


class MAFT(nn.Module):
    """Pose-sampled cross-attention block on ViT tokens.

    Args:
        dim: ViT width C.
        num_joints: J of the detections.
        num_heads, num_points: deformable sampler and attention heads, points per head (8 x 4).
        mlp_ratio: FFN width / C.
        offset_scale: bound of the sampling offsets in feature cells.
    """

    def __init__(
        self,
        dim: int,
        num_joints: int,
        num_heads: int = 8,
        num_points: int = 4,
        mlp_ratio: float = 4.0,
        offset_scale: float = 2.0,
    ):
        super().__init__()
        self.sampler = DeformablePoseSampler(dim, num_joints, num_heads, num_points, offset_scale)
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm_ffn = nn.LayerNorm(dim)
        hidden = max(1, int(dim * mlp_ratio))
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.gate_attn = nn.Parameter(torch.zeros(()))
        self.gate_ffn = nn.Parameter(torch.zeros(()))

    def reset_parameters(self) -> None:
        self.sampler.reset_parameters()
        init.zeros_(self.gate_attn)
        init.zeros_(self.gate_ffn)

    def forward(
        self, features: torch.Tensor, keypoints: torch.Tensor, keypoint_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """features (N, h, w, C) per frame, keypoints (N, J, 2) in [0, 1], mask (N, J) -> (N, h, w, C).

        Undetected joints (mask False) are not attended to; a frame without detections is unchanged.
        """
        N, h, w, C = features.shape
        pose = self.sampler(features, keypoints)
        tokens = features.reshape(N, h * w, C)
        pad = None if keypoint_mask is None else ~keypoint_mask.bool()
        has_any = torch.ones(N, dtype=torch.bool, device=features.device) if pad is None else ~pad.all(1)
        if pad is not None:
            pad = pad & has_any[:, None]  # all-masked rows: attend anyway, the result is zeroed below
        kv = self.norm_kv(pose)
        attended, _ = self.attn(self.norm_q(tokens), kv, kv, key_padding_mask=pad, need_weights=False)
        attended = attended * has_any[:, None, None].to(attended.dtype)
        tokens = tokens + torch.tanh(self.gate_attn) * attended
        tokens = tokens + torch.tanh(self.gate_ffn) * self.ffn(self.norm_ffn(tokens))
        return tokens.view(N, h, w, C)
