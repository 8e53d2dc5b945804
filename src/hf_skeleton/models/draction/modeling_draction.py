"""DrAction: skeleton clips of any format rendered into images by 3D Gaussians (SkeletonLLM, ICML 2026).

Pipeline of :meth:`DrActionModel.forward` for a batch of clips (B, T, P, J, 3):
canonical pose -> Gaussian scales -> joint velocities on the original frame rate -> temporal
sampling T -> T' -> linear blend skinning -> base colour + NFM residuals and saliency gate ->
camera framing -> depth-ramp colour -> rasterization -> images (B, T', 3, H, W) in [0, 1].
Every step is differentiable w.r.t. the joint positions and the renderer's parameters
(the framing camera and the Gaussian sizes are computed without gradients).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ...errors import SkeletonInputError
from ...modeling_utils import SkeletonModelMixin
from ...rendering.camera import clip_cameras, grid_shape, tile_views
from ...rendering.rasterizer import rasterize_gaussians
from .configuration_draction import DrActionConfig
from .gaussian_layout import build_layout, isotropic_scales, metres_per_unit
from .nfm import GaussianColor, NeuralFeatureModulator
from .skinning import LinearBlendSkinning, canonical_pose, relative_rotations


@dataclass
class DrActionOutput(ModelOutput):
    """Rendered frames of a batch of clips.

    Attributes:
        images: (B, T', 3, H, W) RGB in [0, 1].
        alpha: (B, T', H, W) accumulated opacity, when ``return_alpha=True``.
        depth: (B, T', H, W) expected camera depth, when ``return_depth=True``.
        frame_indices: (B, T') the original frame rendered in each output frame.
    """

    images: torch.FloatTensor | None = None
    alpha: torch.FloatTensor | None = None
    depth: torch.FloatTensor | None = None
    frame_indices: torch.LongTensor | None = None


def _uniform_(tensor: torch.Tensor, bound: float) -> None:
    init.uniform_(tensor, -bound, bound)


class DrActionPreTrainedModel(SkeletonModelMixin, PreTrainedModel):
    config_class = DrActionConfig
    base_model_prefix = "draction"
    main_input_name = "skeletons"
    input_modalities = ("skeletons",)
    supports_gradient_checkpointing = True
    _no_split_modules = ("GaussianColor", "NeuralFeatureModulator", "LinearBlendSkinning")
    # no attention layers: any implementation a composite model asks for (SkeletonLLM's VLM with sdpa,
    # flash or flex attention) is fine for the renderer, which used to make such a load fail
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's default layer initialisation (as the authors' renderer); transformers' N(0, 0.02)
        # would make every Gaussian start the same grey.
        if isinstance(module, nn.Linear):
            bound = module.in_features ** -0.5
            _uniform_(module.weight, bound)
            if module.bias is not None:
                _uniform_(module.bias, bound)
                # the NFM's output layer: saliency gate starts at sigmoid(gate_bias_init) = 0.5
                if getattr(module, "is_nfm_output", False) and not getattr(module.bias, "_is_hf_initialized", False):
                    module.bias[4] = self.config.gate_bias_init
        elif isinstance(module, nn.GRU):
            bound = module.hidden_size ** -0.5
            for param in module.parameters():
                _uniform_(param, bound)
        elif isinstance(module, GaussianColor):
            init.copy_(module.features, self._initial_features(module.features))
            if module.depth_cue:
                init.constant_(module.depth_mix, self.config.depth_mix_init)
        elif isinstance(module, LinearBlendSkinning) and module.learnable:
            init.copy_(module.skinning_logits, module.initial_logits().to(module.skinning_logits))

    def _initial_features(self, like: torch.Tensor) -> torch.Tensor:
        """Per-Gaussian features: a code of the Gaussian's body part plus small noise.

        Gaussians of one limb start with similar colours and left/right limbs differ, which
        keeps an untrained render readable; training moves every feature freely.
        """
        fmt = self.config.skeleton_format
        part_of = fmt.part_of()
        names = sorted(set(part_of))
        layout = build_layout(fmt, self.config.gaussians_per_bone)
        child = layout.joints[:, 1]  # the joint itself, or the bone's child joint
        angle = torch.tensor([2.0 * torch.pi * names.index(part_of[int(c)]) / len(names) for c in child])
        code = torch.stack([angle.cos(), angle.sin(), torch.where(layout.is_joint, 0.5, -0.5)], dim=-1)
        width = like.shape[-1]
        code = code[:, :width] if width <= 3 else torch.cat([code, torch.zeros(len(code), width - 3)], dim=-1)
        return (code + 0.1 * torch.randn(code.shape)).to(dtype=like.dtype)


class DrActionModel(DrActionPreTrainedModel):
    """The DrAction renderer: ``model(skeletons, skeleton_mask).images`` -> (B, T', 3, H, W).

    One class renders every format: J and the bones come from ``config.format``. Parameters
    (Kinect v2, defaults): per-Gaussian features K x 3, colour MLP 3 -> 64 -> 4, depth-mix lambda,
    NFM (GRU 10 -> 64 + head 64 -> 5, or MLP 10 -> 64 -> 5), skinning logits K x 2 when learnable.
    """

    def __init__(self, config: DrActionConfig):
        super().__init__(config)
        self.layout = build_layout(config.skeleton_format, config.gaussians_per_bone)
        K = self.layout.num_gaussians
        self.skinning = LinearBlendSkinning(self.layout, learnable=config.learnable_skinning)
        self.color = GaussianColor(K, config.feature_dim, config.color_mlp_hidden, config.depth_cue,
                                   config.depth_mix_init)
        self.nfm = NeuralFeatureModulator(config.nfm_type, config.nfm_hidden)
        self.gradient_checkpointing = False
        self.post_init()

    @property
    def num_gaussians(self) -> int:
        return self.layout.num_gaussians

    # ------------------------------------------------------------------ inputs
    def _check_inputs(self, skeletons, skeleton_mask, orientations):
        fmt = self.config.skeleton_format
        J = fmt.num_joints
        if not isinstance(skeletons, torch.Tensor):
            raise SkeletonInputError("skeletons", "a torch.Tensor of shape (B, T, P, J, 3)", type(skeletons).__name__)
        x = skeletons
        if x.dim() == 4:  # (B, T, J, C): one person
            x = x.unsqueeze(2)
        if x.dim() != 5 or x.shape[-1] not in (2, 3):
            raise SkeletonInputError("skeletons", f"shape (B, T, P, {J}, 3)", tuple(skeletons.shape))
        if x.shape[3] != J:
            raise SkeletonInputError("skeletons", f"J = {J} joints for format {fmt.name!r}, shape (B, T, P, {J}, 3)",
                                     tuple(skeletons.shape))
        if min(x.shape[:3]) < 1:
            raise SkeletonInputError("skeletons", "at least one clip, frame and person", tuple(skeletons.shape))
        if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64, torch.int16)):
            raise SkeletonInputError("skeletons", "a real-valued tensor", x.dtype)
        x = x.to(device=self.device, dtype=self.dtype)
        if x.shape[-1] == 2:
            x = torch.cat([x, torch.zeros_like(x[..., :1])], dim=-1)
        B, T, P = x.shape[:3]
        finite = torch.isfinite(x).all(-1)
        if skeleton_mask is None:
            mask = finite
        else:
            if not isinstance(skeleton_mask, torch.Tensor):
                raise SkeletonInputError("skeleton_mask", "a torch.Tensor of shape (B, T, P, J)",
                                         type(skeleton_mask).__name__)
            mask = skeleton_mask.to(self.device)
            if mask.dim() == 3 and skeletons.dim() == 4:
                mask = mask.unsqueeze(2)
            if tuple(mask.shape) != (B, T, P, J):
                raise SkeletonInputError("skeleton_mask", f"shape (B, T, P, J) = {(B, T, P, J)}",
                                         tuple(skeleton_mask.shape))
            mask = mask.bool() & finite
        x = torch.where(mask.unsqueeze(-1), x, torch.zeros_like(x))
        if not mask.flatten(1).any(dim=1).all():
            empty = (~mask.flatten(1).any(dim=1)).nonzero().flatten().tolist()
            raise SkeletonInputError("skeleton_mask", "at least one observed joint in every clip",
                                     f"clips {empty} have none")
        ori = None
        if orientations is not None:
            if not isinstance(orientations, torch.Tensor):
                raise SkeletonInputError("orientations", "a torch.Tensor of shape (B, T, P, J, 3, 3)",
                                         type(orientations).__name__)
            ori = orientations.to(device=self.device, dtype=self.dtype)
            if ori.dim() == 5 and skeletons.dim() == 4:
                ori = ori.unsqueeze(2)
            if tuple(ori.shape) != (B, T, P, J, 3, 3):
                raise SkeletonInputError("orientations", f"shape (B, T, P, J, 3, 3) = {(B, T, P, J, 3, 3)}",
                                         tuple(orientations.shape))
        return x, mask, ori

    # ------------------------------------------------------------------ time
    def sample_frames(self, lengths: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Frame indices (B, T') into clips of ``lengths`` (B,).

        Each clip is cut into T' equal segments; eval mode (and ``train_sampling="uniform"``)
        takes each segment's centre, training mode one random frame per segment (seeded by
        ``generator``). Clips shorter than T' repeat frames; a 1-frame clip renders T' times.
        """
        Tp = self.config.num_frames
        B = lengths.shape[0]
        i = torch.arange(Tp, dtype=torch.float64)
        if self.training and self.config.train_sampling == "random":
            u = torch.rand(B, Tp, generator=generator, dtype=torch.float64)
        else:
            u = torch.full((B, Tp), 0.5, dtype=torch.float64)
        L = lengths.detach().cpu().to(torch.float64)[:, None]
        idx = torch.floor((i + u) * L / Tp).long()
        return torch.minimum(idx, (L.long() - 1)).to(lengths.device)

    @staticmethod
    def _clip_lengths(mask: torch.Tensor) -> torch.Tensor:
        """Frames up to and including the last frame with an observed joint (padding excluded)."""
        T = mask.shape[1]
        any_obs = mask.flatten(2).any(-1)  # (B, T)
        t = torch.arange(1, T + 1, device=mask.device)
        return torch.where(any_obs, t, torch.zeros_like(t)).amax(dim=1)

    def _velocities(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x(t + offset) - x(t) per joint on the original frame rate, the later end clamped at the clip end."""
        B, T = x.shape[:2]
        t = torch.arange(T, device=x.device)[None]
        nxt = torch.minimum(t + self.config.velocity_offset, (lengths[:, None] - 1).clamp_min(0))  # (B, T)
        x_n = x.gather(1, nxt.view(B, T, 1, 1, 1).expand_as(x))
        m_n = mask.gather(1, nxt.view(B, T, 1, 1).expand_as(mask))
        return torch.where((mask & m_n).unsqueeze(-1), x_n - x, torch.zeros_like(x))

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        skeletons: torch.Tensor,
        skeleton_mask: torch.Tensor | None = None,
        orientations: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        return_alpha: bool = False,
        return_depth: bool = False,
        return_dict: bool | None = None,
        **kwargs,
    ) -> DrActionOutput | tuple:
        """Render a batch of clips.

        Args:
            skeletons: (B, T, P, J, 3) joint positions (a (B, T, J, 3) tensor is one person;
                (..., 2) image-plane data gets z = 0). All persons of a clip share each image.
            skeleton_mask: (B, T, P, J) bool, joint observed (default: finite coordinates).
                Padded frames at the end of a clip (no observed joint) are never sampled.
            orientations: optional (B, T, P, J, 3, 3) global joint orientations for skinning.
            generator / seed: randomness of the training-mode temporal sampling.
            return_alpha, return_depth: also return (B, T', H, W) alpha and depth maps.

        Returns:
            :class:`DrActionOutput` with ``images`` (B, T', 3, H, W) in [0, 1].
        """
        if kwargs:
            raise SkeletonInputError("DrActionModel.forward", "no other keyword arguments", sorted(kwargs))
        cfg = self.config
        fmt = cfg.skeleton_format
        layout = self.layout
        x, mask, ori = self._check_inputs(skeletons, skeleton_mask, orientations)
        B, _, P = x.shape[:3]
        dev, dt = x.device, x.dtype
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(int(seed))

        lengths = self._clip_lengths(mask)
        rest = None if cfg.rest_pose is None else torch.tensor(cfg.rest_pose, dtype=dt, device=dev)
        canon, canon_mask, canon_frame = canonical_pose(x, mask, rest)
        with torch.no_grad():
            mpu = metres_per_unit(fmt, canon.detach(), canon_mask, reference_bone_length=cfg.reference_bone_length,
                                  unit_scale=cfg.unit_scale)  # (B, P)
            scales = isotropic_scales(canon.detach(), layout, canonical_mask=canon_mask, metres_per_unit=mpu,
                                      joint_base=cfg.joint_scale_base, bone_base=cfg.bone_scale_base,
                                      gamma=cfg.scale_gamma, joint_clamp=tuple(cfg.joint_scale_clamp),
                                      bone_clamp=tuple(cfg.bone_scale_clamp))  # (B, P, K)
        obs = mask.unsqueeze(-1).to(dt)
        centre = (x * obs).sum((1, 2, 3)) / obs.sum((1, 2, 3)).clamp_min(1)  # (B, 3) NFM inputs are centred

        vel = self._velocities(x, mask, lengths)  # before temporal sampling, as the authors
        idx = self.sample_frames(lengths, generator)  # (B, T')
        Tp = idx.shape[1]

        def take(t: torch.Tensor) -> torch.Tensor:
            shape = (B, Tp) + (1,) * (t.dim() - 2)
            return t.gather(1, idx.view(shape).expand(B, Tp, *t.shape[2:]))

        xs, ms, vs = take(x), take(mask), take(vel)
        rot = None if ori is None else take(relative_rotations(ori, canon_frame))
        means, covs = self.skinning(xs, canon, scales, rot)  # (B, T', P, K, 3), (..., 3, 3)
        K = means.shape[-2]

        cand = layout.joints.to(dev)
        second_real = layout.candidate_mask[:, 1].to(dev)
        valid = ms[..., cand[:, 0]] & (ms[..., cand[:, 1]] | ~second_real)  # (B, T', P, K)

        # appearance: base colour, NFM residuals and gate
        w = self.skinning.weights(dev, dt)
        base_rgb, alpha_logit = self.color.base()
        m = mpu.to(dt)[:, None, :, None, None]
        pos_in = (self.skinning.blend(xs, w) - centre[:, None, None, None, :]) * m
        vel_in = self.skinning.blend(vs, w) * m
        base_rgba = torch.cat([base_rgb, torch.sigmoid(alpha_logit)[:, None]], dim=-1)

        def per_person(t: torch.Tensor) -> torch.Tensor:  # (B, T', P, K, C) -> (B P, T', K, C)
            return t.transpose(1, 2).reshape(B * P, Tp, K, t.shape[-1])

        d_rgb, d_alpha, gate = self.nfm(per_person(pos_in), per_person(vel_in), base_rgba)
        d_rgb = d_rgb.reshape(B, P, Tp, K, 3).transpose(1, 2)
        d_alpha = d_alpha.reshape(B, P, Tp, K).transpose(1, 2)
        gate = gate.reshape(B, P, Tp, K).transpose(1, 2)
        opacity = torch.sigmoid(alpha_logit + d_alpha) * torch.sigmoid(gate) * valid.to(dt)

        # cameras (fixed per clip and view; framed on every frame of the clip)
        views = cfg.render_views
        V = len(views)
        cols = grid_shape(V)[1]
        S = cfg.image_size // cols if V > 1 else cfg.image_size
        radius = 3.0 * scales.flatten(1).amax(dim=1)
        viewmats, Ks = clip_cameras(x, mask, fmt, tuple(views), width=S, height=S, fov_deg=cfg.fov,
                                    margin=cfg.margin, radius=radius, view_frame=cfg.view_frame,
                                    canonical=canon, canonical_mask=canon_mask, mode=cfg.camera)

        # colour per view: the depth ramp depends on the camera
        cam_z = torch.einsum("bvc,btpkc->btvpk", viewmats[:, :, 2, :3], means) \
            + viewmats[:, :, 2, 3][:, None, :, None, None]
        valid_v = valid.unsqueeze(2).expand(B, Tp, V, P, K).reshape(B, Tp, V, P * K)
        rgb = self.color.mix_depth(base_rgb.expand(B, Tp, V, P, K, 3).reshape(B, Tp, V, P * K, 3),
                                   cam_z.reshape(B, Tp, V, P * K), valid_v)
        rgb = (rgb.view(B, Tp, V, P, K, 3) + d_rgb.unsqueeze(2)).clamp(0.0, 1.0)

        N = B * Tp * V
        means_n = means.unsqueeze(2).expand(B, Tp, V, P, K, 3).reshape(N, P * K, 3)
        covs_n = covs.unsqueeze(2).expand(B, Tp, V, P, K, 3, 3).reshape(N, P * K, 3, 3)
        opac_n = opacity.unsqueeze(2).expand(B, Tp, V, P, K).reshape(N, P * K)
        rgb_n = rgb.reshape(N, P * K, 3)
        view_n = viewmats.unsqueeze(1).expand(B, Tp, V, 4, 4).reshape(N, 4, 4)
        K_n = Ks.unsqueeze(1).expand(B, Tp, V, 3, 3).reshape(N, 3, 3)
        background = torch.tensor(cfg.background, dtype=dt, device=dev)
        raster_args = (means_n, covs_n, rgb_n, opac_n, view_n, K_n, background)
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            rgb_img, alpha_img, depth_img = self._gradient_checkpointing_func(self._rasterize, *raster_args, S)
        else:
            rgb_img, alpha_img, depth_img = self._rasterize(*raster_args, S)

        images = self._assemble(rgb_img.view(B, Tp, V, S, S, 3), background)
        alpha = self._assemble(alpha_img.view(B, Tp, V, S, S, 1), background.new_zeros(1))[..., 0] \
            if return_alpha else None
        depth = self._assemble(depth_img.view(B, Tp, V, S, S, 1), background.new_zeros(1))[..., 0] \
            if return_depth else None
        out = DrActionOutput(images=images.permute(0, 1, 4, 2, 3), alpha=alpha, depth=depth, frame_indices=idx)
        return out if return_dict is not False else out.to_tuple()

    def _rasterize(self, means, covs, colors, opacities, viewmats, intrinsics, background, size: int):
        cfg = self.config
        out = rasterize_gaussians(means, covs, colors, opacities, viewmats, intrinsics, size, size,
                                  background=background, backend=cfg.backend, near=cfg.near, eps2d=cfg.eps2d,
                                  tile_size=cfg.tile_size)
        return out.rgb, out.alpha, out.depth

    def _assemble(self, tiles: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """(B, T', V, S, S, C) tiles -> (B, T', H, W, C) images of ``image_size`` (grid for V > 1)."""
        if tiles.shape[2] == 1:
            return tiles[:, :, 0]
        grid = tile_views(tiles, fill)
        size = self.config.image_size
        h, w = grid.shape[2:4]
        if (h, w) == (size, size):
            return grid
        canvas = fill.to(grid).expand(*grid.shape[:2], size, size, grid.shape[-1]).clone()
        top, left = (size - h) // 2, (size - w) // 2
        canvas[:, :, top:top + h, left:left + w] = grid
        return canvas


__all__ = ["DrActionModel", "DrActionOutput", "DrActionPreTrainedModel"]
