"""Canonical pose and linear blend skinning (LBS) of the skeleton Gaussians.

Each joint j carries a rigid transform per frame, canonical -> frame t: rotation
``R_j(t) = O_j(t) O_j(c)^T`` from global joint orientations when they are given (BVH, Kinect),
identity otherwise (translation only), and translation ``x_j(t) - R_j(t) x_j(c)``. A Gaussian's
centre is blended linearly (classic LBS); its covariance is rotated by the blended rotation
``sum_j w_kj R_j`` projected back to SO(3) with an SVD (:func:`project_to_so3`).
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import SkeletonInputError
from .gaussian_layout import GaussianLayout


class _ProjectToSO3(torch.autograd.Function):
    """Nearest rotation (Frobenius) of a 3x3 matrix; backward from the polar decomposition.

    Differentiating through ``torch.linalg.svd`` breaks down when singular values repeat, which
    is exactly the common case here (a blend of equal rotations is a rotation, singular values
    1, 1, 1). Writing M = R S' with S' = V diag(s') V^T symmetric, dR = R Omega with Omega skew
    solving S' Omega + Omega S' = R^T dM - dM^T R, which only needs s'_i + s'_j != 0.
    """

    @staticmethod
    def forward(ctx, M: torch.Tensor) -> torch.Tensor:
        U, S, Vh = torch.linalg.svd(M)
        det = torch.linalg.det(U @ Vh)
        sign = torch.where(det < 0, -torch.ones_like(det), torch.ones_like(det))
        D = torch.ones_like(S)
        D[..., 2] = sign
        R = (U * D.unsqueeze(-2)) @ Vh
        ctx.save_for_backward(R, S * D, Vh)
        return R

    @staticmethod
    def backward(ctx, grad_R: torch.Tensor) -> torch.Tensor:
        R, s, Vh = ctx.saved_tensors
        V = Vh.transpose(-1, -2)
        H = Vh @ R.transpose(-1, -2) @ grad_R @ V
        denom = s.unsqueeze(-1) + s.unsqueeze(-2)
        denom = torch.where(denom.abs() < 1e-12, torch.full_like(denom, 1e-12), denom)
        K = H / denom
        return R @ V @ (K - K.transpose(-1, -2)) @ Vh


def project_to_so3(M: torch.Tensor) -> torch.Tensor:
    """Closest rotation matrix (det +1) to each (..., 3, 3) matrix, reflections handled.

    ``R = U diag(1, 1, det(U V^T)) V^T`` from ``M = U S V^T``. Differentiable, also where
    singular values repeat (see :class:`_ProjectToSO3`).
    """
    if M.shape[-2:] != (3, 3):
        raise SkeletonInputError("M", "a tensor of shape (..., 3, 3)", tuple(M.shape))
    return _ProjectToSO3.apply(M)


def canonical_pose(
    positions: torch.Tensor,
    mask: torch.Tensor,
    rest_pose: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Canonical pose of each clip and person.

    Args:
        positions: (B, T, P, J, 3).
        mask: (B, T, P, J) bool, joint observed.
        rest_pose: optional (J, 3) configured rest pose; used for every clip and person.

    Returns:
        canonical (B, P, J, 3): per joint its position in the first frame where it is observed
        (the first valid frame of the clip; later frames fill joints missing there),
        canonical_mask (B, P, J) bool (joint observed at least once, or rest pose given), and
        frame_index (B, P, J) long: the frame the canonical position came from (0 for a rest pose).
    """
    B, T, P, J, _ = positions.shape
    if rest_pose is not None:
        rest = rest_pose.to(positions).expand(B, P, J, 3)
        return rest, torch.ones(B, P, J, dtype=torch.bool, device=positions.device), \
            torch.zeros(B, P, J, dtype=torch.long, device=positions.device)
    t = torch.arange(T, device=positions.device).view(1, T, 1, 1).expand(B, T, P, J)
    first = torch.where(mask, t, torch.full_like(t, T)).amin(dim=1)  # (B, P, J)
    observed = first < T
    idx = first.clamp_max(T - 1)
    canon = positions.gather(1, idx[:, None, :, :, None].expand(B, 1, P, J, 3)).squeeze(1)
    canon = torch.where(observed[..., None], canon, torch.zeros_like(canon))
    return canon, observed, idx


class LinearBlendSkinning(nn.Module):
    """Skinning weights and LBS of K Gaussians from J joint transforms.

    Fixed topology weights by default (the authors' choice, best for cross-format transfer).
    With ``learnable=True`` each Gaussian holds logits over its candidate joints, initialised to
    ``log`` of the topology weights so that the softmax starts exactly at them.
    """

    def __init__(self, layout: GaussianLayout, learnable: bool = False):
        super().__init__()
        self._layout = layout
        self.learnable = learnable
        if learnable:
            self.skinning_logits = nn.Parameter(torch.zeros(layout.num_gaussians, 2))
            if not self.skinning_logits.is_meta:  # under from_pretrained's meta context the weights load later
                with torch.no_grad():
                    self.skinning_logits.copy_(self.initial_logits())

    def initial_logits(self) -> torch.Tensor:
        w = self._layout.weights
        logits = torch.log(w.clamp_min(1e-6))
        return torch.where(self._layout.candidate_mask, logits, torch.zeros_like(logits))

    def weights(self, device: torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
        """(K, 2) skinning weights over each Gaussian's candidate joints (rows sum to 1)."""
        cmask = self._layout.candidate_mask.to(device)
        if not self.learnable:
            return self._layout.weights.to(device=device, dtype=dtype)
        logits = self.skinning_logits.to(dtype=dtype) if dtype is not None else self.skinning_logits
        logits = logits.masked_fill(~cmask, float("-inf"))
        return torch.softmax(logits, dim=-1)

    def blend(self, joint_values: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Weighted sum over each Gaussian's candidate joints: (..., J, F) -> (..., K, F).

        ``weights`` (K, 2) defaults to the topology weights (which place Gaussians on bones).
        """
        w = self._layout.weights.to(joint_values) if weights is None else weights
        idx = self._layout.joints.to(joint_values.device)
        vals = joint_values[..., idx, :]  # (..., K, 2, F)
        return (vals * w.unsqueeze(-1)).sum(dim=-2)

    def forward(
        self,
        positions: torch.Tensor,
        canonical: torch.Tensor,
        scales: torch.Tensor,
        rotations: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Move the canonical Gaussians to every frame.

        Args:
            positions: (B, T, P, J, 3) joint positions per frame.
            canonical: (B, P, J, 3) canonical pose.
            scales: (B, P, K) isotropic standard deviations in the canonical pose.
            rotations: optional (B, T, P, J, 3, 3) joint rotations canonical -> frame
                (:func:`relative_rotations`); None means identity (translation only).

        Returns:
            means (B, T, P, K, 3) and covariances (B, T, P, K, 3, 3).
        """
        w = self.weights(positions.device, positions.dtype)
        mu_c = self.blend(canonical)  # (B, P, K, 3): bone samples on the canonical bones
        cov_c = torch.diag_embed(scales.pow(2).unsqueeze(-1).expand(*scales.shape, 3))  # (B, P, K, 3, 3)
        B, T, P = positions.shape[:3]
        K = mu_c.shape[-2]
        if rotations is None:
            means = mu_c.unsqueeze(1) + self.blend(positions - canonical.unsqueeze(1), w)
            return means, cov_c.unsqueeze(1).expand(B, T, P, K, 3, 3)
        idx = self._layout.joints.to(positions.device)  # (K, 2)
        R = rotations[..., idx, :, :]  # (B, T, P, K, 2, 3, 3)
        offset = mu_c.unsqueeze(-2) - canonical[..., idx, :]  # (B, P, K, 2, 3)
        moved = (R @ offset.unsqueeze(1).unsqueeze(-1)).squeeze(-1) + positions[..., idx, :]
        means = (moved * w.unsqueeze(-1)).sum(dim=-2)
        R_blend = project_to_so3((R * w[..., None, None]).sum(dim=-3))  # (B, T, P, K, 3, 3)
        covs = R_blend @ cov_c.unsqueeze(1) @ R_blend.transpose(-1, -2)
        return means, covs


def relative_rotations(orientations: torch.Tensor, frame_index: torch.Tensor) -> torch.Tensor:
    """Joint rotations canonical -> frame: ``O_j(t) O_j(c)^T``.

    Args:
        orientations: (B, T, P, J, 3, 3) global joint orientations.
        frame_index: (B, P, J) canonical frame of each joint (from :func:`canonical_pose`).

    Returns:
        (B, T, P, J, 3, 3).
    """
    B, _T, P, J = orientations.shape[:4]
    idx = frame_index[:, None, :, :, None, None].expand(B, 1, P, J, 3, 3)
    O_c = orientations.gather(1, idx)  # (B, 1, P, J, 3, 3)
    return orientations @ O_c.transpose(-1, -2)
