"""Gaussian layout of a skeleton: one Gaussian per joint plus ``n`` evenly spaced along each bone.

DrAction (SkeletonLLM) places K = J + n * E Gaussians on a skeleton (265 for Kinect v2 with the
paper's n = 10). Bone samples sit at fractions s / (n + 1), s = 1..n, from the parent joint to the
child joint. Each Gaussian knows its candidate joints (one for a joint Gaussian, the two bone ends
for a bone sample) and fixed topology skinning weights (one-hot; (1 - a, a) along a bone).
Isotropic scales follow the authors' rule from canonical bone lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...errors import SkeletonInputError
from ...skeletons import geometry
from ...skeletons.formats import SkeletonFormat, get_format

# Lengths are converted to metres before the authors' metric scale rule is applied.
UNIT_TO_METRES = {"m": 1.0, "cm": 0.01, "mm": 0.001, "dm": 0.1, "in": 0.0254}


@dataclass(frozen=True)
class GaussianLayout:
    """Topology of the K Gaussians of one format (no learnable state).

    Attributes:
        format: the skeleton format.
        gaussians_per_bone: n, bone samples per bone.
        joints: (K, 2) long, candidate joints of each Gaussian (a joint Gaussian repeats its joint).
        weights: (K, 2) float64, topology skinning weights over the candidates (rows sum to 1;
            a joint Gaussian has (1, 0)).
        candidate_mask: (K, 2) bool, which candidate slots are real (False for the repeated slot).
        is_joint: (K,) bool, True for the J joint Gaussians (the first J rows, in joint order).
        bone: (K,) long, bone index of a bone sample (-1 for joint Gaussians).
    """

    format: SkeletonFormat
    gaussians_per_bone: int
    joints: torch.Tensor
    weights: torch.Tensor
    candidate_mask: torch.Tensor
    is_joint: torch.Tensor
    bone: torch.Tensor

    @property
    def num_gaussians(self) -> int:
        return int(self.joints.shape[0])

    def to(self, device: torch.device | str) -> GaussianLayout:
        return GaussianLayout(self.format, self.gaussians_per_bone, self.joints.to(device),
                              self.weights.to(device), self.candidate_mask.to(device),
                              self.is_joint.to(device), self.bone.to(device))


def num_gaussians(fmt: str | SkeletonFormat | dict, gaussians_per_bone: int = 10) -> int:
    """K = J + n * E for a format."""
    f = get_format(fmt)
    return f.num_joints + gaussians_per_bone * f.num_bones


def build_layout(fmt: str | SkeletonFormat | dict, gaussians_per_bone: int = 10) -> GaussianLayout:
    """The Gaussian layout of a format: joints first (in joint order), then bone samples bone by bone."""
    f = get_format(fmt)
    if not isinstance(gaussians_per_bone, int) or gaussians_per_bone < 0:
        raise SkeletonInputError("gaussians_per_bone", "an integer >= 0", gaussians_per_bone)
    n = gaussians_per_bone
    cand, wts, cmask, bone = [], [], [], []
    for j in range(f.num_joints):
        cand.append((j, j))
        wts.append((1.0, 0.0))
        cmask.append((True, False))
        bone.append(-1)
    for e, (p, c) in enumerate(f.bones):
        for s in range(1, n + 1):
            a = s / (n + 1)
            cand.append((p, c))
            wts.append((1.0 - a, a))
            cmask.append((True, True))
            bone.append(e)
    K = len(cand)
    cpu = torch.device("cpu")  # explicit: models are built under a meta-device context by from_pretrained
    return GaussianLayout(
        format=f,
        gaussians_per_bone=n,
        joints=torch.tensor(cand, dtype=torch.long, device=cpu),
        weights=torch.tensor(wts, dtype=torch.float64, device=cpu),  # cast on use
        candidate_mask=torch.tensor(cmask, dtype=torch.bool, device=cpu),
        is_joint=torch.arange(K, device=cpu) < f.num_joints,
        bone=torch.tensor(bone, dtype=torch.long, device=cpu),
    )


def bone_lengths(positions: torch.Tensor, fmt: SkeletonFormat) -> torch.Tensor:
    """Bone lengths (..., E) of poses (..., J, 3), bones in ``fmt.bones`` order, without gradients.

    :func:`hf_skeleton.skeletons.geometry.bone_lengths` (the transforms' definition) as a tensor
    of the poses' dtype and device.
    """
    pose = positions.detach()
    if pose.dtype not in (torch.float32, torch.float64):  # numpy has no bfloat16
        pose = pose.float()
    return torch.from_numpy(geometry.bone_lengths(pose.cpu().numpy(), fmt)).to(positions)


def isotropic_scales(
    canonical: torch.Tensor,
    layout: GaussianLayout,
    *,
    canonical_mask: torch.Tensor | None = None,
    metres_per_unit: torch.Tensor | float = 1.0,
    joint_base: float = 0.030,
    bone_base: float = 0.020,
    gamma: float = 1.0,
    joint_clamp: tuple[float, float] = (0.010, 0.035),
    bone_clamp: tuple[float, float] = (0.006, 0.030),
) -> torch.Tensor:
    """Per-Gaussian standard deviations (..., K) in data units, from a canonical pose (..., J, 3).

    The authors' rule, in metres: a joint gets ``joint_base * (median incident bone / longest
    bone) ** gamma`` clamped to ``joint_clamp``; a bone sample ``bone_base * (bone / longest
    bone) ** gamma`` clamped to ``bone_clamp``. ``metres_per_unit`` (scalar or (...,)) converts
    the data's units to metres and back, so centimetre, pixel or normalised data get Gaussians of
    the same size relative to the body. Bones with an unobserved end (``canonical_mask`` (..., J)
    False) are left out of the longest bone and the medians; their own samples get ratio 1.
    """
    fmt = layout.format
    if canonical.shape[-2:] != (fmt.num_joints, 3):
        raise SkeletonInputError("canonical", f"shape (..., {fmt.num_joints}, 3)", tuple(canonical.shape))
    batch = canonical.shape[:-2]
    J, dev = fmt.num_joints, canonical.device
    mpu = torch.as_tensor(metres_per_unit, dtype=canonical.dtype, device=dev)
    mpu = mpu.expand(batch).unsqueeze(-1)  # (..., 1)
    if fmt.num_bones == 0:
        return canonical.new_full(batch + (J,), joint_base).clamp(*joint_clamp) / mpu
    lengths = bone_lengths(canonical, fmt) * mpu  # metres, (..., E)
    if canonical_mask is None:
        bone_ok = torch.ones_like(lengths, dtype=torch.bool)
    else:
        par = torch.tensor([p for p, _ in fmt.bones], device=dev)
        chi = torch.tensor([c for _, c in fmt.bones], device=dev)
        bone_ok = canonical_mask[..., par] & canonical_mask[..., chi] & (lengths > 0)
    longest = torch.where(bone_ok, lengths, torch.zeros_like(lengths)).amax(dim=-1, keepdim=True)
    ratio = torch.where(bone_ok & (longest > 0), lengths / longest.clamp_min(1e-12), torch.ones_like(lengths))
    # median of the observed incident bones of each joint (mean of the two middle values when even)
    incident = [[e for e, (p, c) in enumerate(fmt.bones) if j in (p, c)] for j in range(J)]
    width = max(len(ids) for ids in incident)
    # a joint without bones (a lone root of a forest format) pads with bone 0, never used (``real`` False)
    idx = torch.tensor([ids + [(ids or [0])[0]] * (width - len(ids)) for ids in incident], device=dev)
    real = torch.tensor([[i < len(ids) for i in range(width)] for ids in incident], device=dev)
    use = real & bone_ok[..., idx]  # (..., J, width)
    vals = torch.where(use, ratio[..., idx], torch.full_like(ratio[..., idx], float("inf"))).sort(dim=-1).values
    count = use.sum(-1, keepdim=True)
    lo = ((count - 1).clamp_min(0) // 2).clamp_max(width - 1)
    hi = (count // 2).clamp_max(width - 1)
    median = 0.5 * (vals.gather(-1, lo) + vals.gather(-1, hi))
    joint_ratio = torch.where(count > 0, median, torch.ones_like(median)).squeeze(-1)
    joint_s = (joint_base * joint_ratio.pow(gamma)).clamp(*joint_clamp)
    bone_s = (bone_base * ratio.pow(gamma)).clamp(*bone_clamp)  # (..., E)
    bone_idx = layout.bone.to(dev)[~layout.is_joint.to(dev)]
    scales = torch.cat([joint_s, bone_s[..., bone_idx]], dim=-1)
    return scales / mpu


def metres_per_unit(fmt: SkeletonFormat, canonical: torch.Tensor, canonical_mask: torch.Tensor | None = None,
                    *, reference_bone_length: float = 0.45, unit_scale: float | None = None) -> torch.Tensor:
    """Factor from data units to metres, one per canonical pose (...,) of shape (..., J, 3).

    ``unit_scale`` given: used as is. Metric units (``m``, ``cm``, ``mm``, ``in``): exact. Other
    units (pixels, normalised, unknown): the longest observed canonical bone is taken to be
    ``reference_bone_length`` metres (a thigh or the torso in every built-in format).
    """
    batch = canonical.shape[:-2]
    if unit_scale is not None:
        return canonical.new_full(batch, float(unit_scale))
    if fmt.units in UNIT_TO_METRES:
        return canonical.new_full(batch, UNIT_TO_METRES[fmt.units])
    if fmt.num_bones == 0:
        return canonical.new_ones(batch)
    lengths = bone_lengths(canonical, fmt)
    if canonical_mask is not None:
        par = torch.tensor([p for p, _ in fmt.bones], device=canonical.device)
        chi = torch.tensor([c for _, c in fmt.bones], device=canonical.device)
        lengths = torch.where(canonical_mask[..., par] & canonical_mask[..., chi], lengths,
                              torch.zeros_like(lengths))
    longest = lengths.amax(dim=-1)
    return torch.where(longest > 1e-8, reference_bone_length / longest.clamp_min(1e-8), torch.ones_like(longest))
