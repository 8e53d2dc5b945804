# Copied from hf_skeleton.models.llamo.motion_encoder by hf_skeleton.remote_code for trust_remote_code loading.
"""LLaMo's native motion encoder: a spatial-temporal transformer over continuous joint positions.

Each (frame, joint) is one token: its position (and velocity) is embedded linearly and added to a
joint identity embedding and a body-part embedding (both sized from the config's
:class:`SkeletonFormat`, so J is data) and a learned temporal position embedding. Blocks alternate
spatial attention (joints of one frame attend to each other) and temporal attention (one joint
attends across frames). Untracked joints are replaced by a learned mask embedding and are never
attended to; padding frames are ignored. Output stays continuous (never quantised).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import SkeletonInputError
from .configuration_llamo import LlamoConfig


def frame_valid_mask(motion_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, J) joint mask -> (B, T) frames with at least one observed joint (padding frames have none)."""
    return motion_mask.any(dim=-1)


def motion_token_mask(motion_mask: torch.Tensor, config: LlamoConfig) -> torch.Tensor:
    """Which encoder output tokens are real, (B, T, J) -> (B, N).

    A time step (``motion_temporal_stride`` frames) is real when one of its frames has an observed
    joint; with ``motion_pooling="joint"`` each real step gives J real tokens, step-major.
    """
    frames = frame_valid_mask(motion_mask)
    B, T = frames.shape
    stride = config.motion_temporal_stride
    steps = config.num_motion_steps(T)
    pad = steps * stride - T
    steps_valid = F.pad(frames, (0, pad), value=False).view(B, steps, stride).any(-1)
    if config.motion_pooling == "joint":
        return steps_valid[:, :, None].expand(B, steps, config.num_joints).reshape(B, steps * config.num_joints)
    return steps_valid


def count_motion_tokens(mask: np.ndarray, config: LlamoConfig) -> int:
    """Number of ``<motion>`` tokens one clip with joint mask ``mask`` (T, J) produces (processor side)."""
    return int(motion_token_mask(torch.as_tensor(np.asarray(mask, dtype=bool))[None], config).sum())


def _safe_key_mask(mask: torch.Tensor) -> torch.Tensor:
    """Rows with no valid key attend to every position instead (their output is discarded), avoiding NaN."""
    return mask | ~mask.any(dim=-1, keepdim=True)


class MotionAttentionBlock(nn.Module):
    """Pre-norm transformer block (self-attention + MLP) over the second axis of (N, L, D)."""

    def __init__(self, hidden: int, heads: int, intermediate: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(nn.Linear(hidden, intermediate), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(intermediate, hidden))
        self.dropout = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """x: (N, L, D); key_mask: (N, L) True where a position may be attended to."""
        N, L, D = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(N, L, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        attn_mask = _safe_key_mask(key_mask)[:, None, None, :]
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.attn_dropout if self.training else 0.0)
        x = x + self.dropout(self.out(h.transpose(1, 2).reshape(N, L, D)))
        return x + self.dropout(self.mlp(self.norm2(x)))


@dataclass
class MotionEncoderOutput:
    """features: (B, N, D_motion); token_mask: (B, N) real tokens; frame_features: (B, T, J, D_motion)."""

    features: torch.Tensor
    token_mask: torch.Tensor
    frame_features: torch.Tensor


class LlamoMotionEncoder(nn.Module):
    """Spatial-temporal transformer over (B, T, J, 3) joint positions; see the module docstring."""

    def __init__(self, config: LlamoConfig):
        super().__init__()
        self.config = config
        fmt = config.skeleton_format
        d = config.motion_hidden_size
        self.num_joints = fmt.num_joints
        part_names = list(fmt.parts) or ["body"]
        part_of = fmt.part_of() if fmt.parts else ["body"] * fmt.num_joints
        self._joint_part = [part_names.index(p) for p in part_of]
        self.input_proj = nn.Linear(config.motion_input_channels, d)
        self.mask_embedding = nn.Parameter(torch.zeros(d))
        self.joint_embedding = nn.Embedding(fmt.num_joints, d)
        self.part_embedding = nn.Embedding(len(part_names), d)
        self.time_embedding = nn.Embedding(config.max_motion_frames, d)
        self.spatial_blocks = nn.ModuleList()
        self.temporal_blocks = nn.ModuleList()
        for _ in range(config.motion_num_layers):
            args = (d, config.motion_num_heads, config.motion_intermediate_size, config.motion_dropout)
            self.spatial_blocks.append(MotionAttentionBlock(*args))
            self.temporal_blocks.append(MotionAttentionBlock(*args))
        self.norm = nn.LayerNorm(d)

    # ------------------------------------------------------------------ input checks
    def _check(self, motion: torch.Tensor, motion_mask: torch.Tensor | None) -> torch.Tensor:
        if not torch.is_tensor(motion) or motion.ndim != 4 or motion.shape[-1] != 3:
            raise SkeletonInputError("motion", "a tensor of shape (B, T, J, 3)",
                                     tuple(motion.shape) if torch.is_tensor(motion) else type(motion).__name__)
        B, T, J, _ = motion.shape
        if J != self.num_joints:
            raise SkeletonInputError("motion", f"{self.num_joints} joints (format {self.config.skeleton_format.name!r})",
                                     J)
        if T < 1:
            raise SkeletonInputError("motion", "at least one frame", tuple(motion.shape))
        if T > self.config.max_motion_frames:
            raise SkeletonInputError("motion", f"at most max_motion_frames={self.config.max_motion_frames} frames "
                                     "(resample in the processor)", T)
        if motion_mask is None:
            return torch.isfinite(motion).all(-1)
        if motion_mask.shape != (B, T, J):
            raise SkeletonInputError("motion_mask", f"shape {(B, T, J)}", tuple(motion_mask.shape))
        return motion_mask.bool() & torch.isfinite(motion).all(-1)

    def forward(self, motion: torch.Tensor, motion_mask: torch.Tensor | None = None) -> MotionEncoderOutput:
        """motion: (B, T, J, 3) normalised positions; motion_mask: (B, T, J) True where observed."""
        mask = self._check(motion, motion_mask)
        B, T, J, _ = motion.shape
        dtype = self.input_proj.weight.dtype
        x = torch.where(mask[..., None], motion, torch.zeros_like(motion)).to(dtype)
        if self.config.motion_use_velocity:
            vel = torch.zeros_like(x)
            if T > 1:
                both = (mask[:, 1:] & mask[:, :-1])[..., None]
                vel[:, 1:] = torch.where(both, x[:, 1:] - x[:, :-1], torch.zeros_like(x[:, 1:]))
                vel[:, 0] = vel[:, 1]
            x = torch.cat([x, vel], dim=-1)
        h = self.input_proj(x)
        h = torch.where(mask[..., None], h, self.mask_embedding.to(h.dtype).expand_as(h))
        joint_ids = torch.arange(J, device=h.device)
        part_ids = torch.tensor(self._joint_part, device=h.device)
        h = h + self.joint_embedding(joint_ids) + self.part_embedding(part_ids)
        h = h + self.time_embedding(torch.arange(T, device=h.device))[:, None, :]

        D = h.shape[-1]
        spatial_mask = mask.reshape(B * T, J)
        temporal_mask = mask.transpose(1, 2).reshape(B * J, T)
        for spatial, temporal in zip(self.spatial_blocks, self.temporal_blocks):
            h = spatial(h.reshape(B * T, J, D), spatial_mask).view(B, T, J, D)
            h = temporal(h.transpose(1, 2).reshape(B * J, T, D), temporal_mask)
            h = h.view(B, J, T, D).transpose(1, 2)
        h = self.norm(h)
        return MotionEncoderOutput(features=self._pool(h, mask), token_mask=motion_token_mask(mask, self.config),
                                   frame_features=h)

    def _pool(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, J, D) -> (B, N, D): masked means over joints (``frame``) and over each time step's frames."""
        B, T, J, D = h.shape
        stride = self.config.motion_temporal_stride
        steps = self.config.num_motion_steps(T)
        pad = steps * stride - T
        frames = frame_valid_mask(mask).to(h.dtype)
        if self.config.motion_pooling == "frame":
            w = mask.to(h.dtype)[..., None]
            per_frame = (h * w).sum(2) / w.sum(2).clamp_min(1.0)  # (B, T, D)
            per_frame = F.pad(per_frame, (0, 0, 0, pad)).view(B, steps, stride, D)
            fw = F.pad(frames, (0, pad)).view(B, steps, stride, 1)
            return (per_frame * fw).sum(2) / fw.sum(2).clamp_min(1.0)
        h = F.pad(h, (0, 0, 0, 0, 0, pad)).view(B, steps, stride, J, D)
        fw = F.pad(frames, (0, pad)).view(B, steps, stride, 1, 1)
        pooled = (h * fw).sum(2) / fw.sum(2).clamp_min(1.0)  # (B, steps, J, D)
        return pooled.reshape(B, steps * J, D)
