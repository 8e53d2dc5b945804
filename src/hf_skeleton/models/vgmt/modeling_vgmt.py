"""VGMT: the Vision-Guided Motion Tokenizer of Superman (CVPR 2026) as a transformers model.

A VQ-VAE over (time, joint) grids. The skeleton stream runs 2D convolutions over (T, J) with dilated
residual blocks and temporal average pooling (no pooling over joints) to (B, T/r, J, D_s). The visual
stream runs a frozen backbone on every frame, samples its feature maps at the 2D joints with the
deformable Visual-Skeleton Attention and encodes the samples like the skeleton stream to
(B, T/r, J, D_v). A hybrid codebook of paired prototypes turns each (time step, joint) into one code;
the decoder mirrors the skeleton encoder and reads the full code [visual | skeletal] back to (B, T, J, 3).

Decoding with skeleton-only codes: the decoder always reads full codes. The authors quantise the
2048-d concatenation [z_v | z_s] and decode it, so a code is a pair of prototypes; when no RGB is
given the skeletal half chooses the code and the paired visual half fills the rest of the decoder
input. Decoding therefore needs only code ids, whichever way they were chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoBackbone, AutoConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ...errors import CheckpointError, SkeletonInputError
from ...modeling_utils import SkeletonModelMixin
from ...skeletons.box import box_denormalize, box_normalize
from ...skeletons.box import box_normalize as normalize_motion  # noqa: F401  (its old name)
from ...skeletons.sequence import SkeletonSequence
from .codebook import HybridCodebook
from .configuration_vgmt import VGMTConfig
from .visual_sampling import VisualSkeletonAttention


@dataclass
class VGMTOutput(ModelOutput):
    """Output of :meth:`VGMTModel.forward`.

    Args:
        loss: reconstruction + beta_s * commit_s + beta_v * commit_v (when computed).
        reconstruction: (B, T, J, 3) decoded motion in the input's coordinates.
        codes: (B, T', G) code ids; T' = ceil(T / temporal_downsample), G = joints or parts.
        last_hidden_state: (B, T', G, D) quantised full codes [visual | skeletal].
        perplexity: code-usage perplexity of the batch.
        recon_loss: mean L2 joint error over observed joints.
        commit_loss_s, commit_loss_v: commitment losses of the two halves.
    """

    loss: torch.Tensor | None = None
    reconstruction: torch.Tensor | None = None
    codes: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    perplexity: torch.Tensor | None = None
    recon_loss: torch.Tensor | None = None
    commit_loss_s: torch.Tensor | None = None
    commit_loss_v: torch.Tensor | None = None


# ---------------------------------------------------------------------- building blocks
def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, groups), channels)


class ResBlock(nn.Module):
    """x + Conv1x1(SiLU(GN(Conv3x3_dilated_in_time(SiLU(GN(x)))))) on (B, C, T, J)."""

    def __init__(self, channels: int, dilation: int, groups: int):
        super().__init__()
        self.block = nn.Sequential(
            _norm(channels, groups), nn.SiLU(),
            nn.Conv2d(channels, channels, (3, 3), padding=(dilation, 1), dilation=(dilation, 1)),
            _norm(channels, groups), nn.SiLU(), nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def _stage(c_in: int, c_out: int, dilations: list[int], groups: int) -> list[nn.Module]:
    layers: list[nn.Module] = [] if c_in == c_out else [nn.Conv2d(c_in, c_out, 1)]
    return layers + [ResBlock(c_out, d, groups) for d in dilations]


class GridEncoder(nn.Module):
    """(B, C_in, T, J) -> (B, D, T / 2**n_down, J). ``stem_kernel`` 3 is the skeleton stream's 3 -> c0
    convolution over the grid; the visual stream replaces it by a 1x1 projection of the samples."""

    def __init__(self, in_channels: int, out_dim: int, config: VGMTConfig, stem_kernel: int):
        super().__init__()
        ch, g = config.channels, config.norm_groups
        n_down = config.temporal_downsample.bit_length() - 1
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ch[0], stem_kernel, padding=stem_kernel // 2)]
        prev = ch[0]
        for j, c in enumerate(ch):
            layers += _stage(prev, c, config.dilations, g)
            prev = c
            if j < n_down:
                layers.append(nn.AvgPool2d((2, 1)))
        layers += [_norm(prev, g), nn.SiLU(), nn.Conv2d(prev, out_dim, 1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class GridDecoder(nn.Module):
    """Mirror of :class:`GridEncoder`: (B, D, T', J) -> (B, 3, T' * 2**n_down, J)."""

    def __init__(self, in_dim: int, config: VGMTConfig):
        super().__init__()
        ch, g = config.channels, config.norm_groups
        n_down = config.temporal_downsample.bit_length() - 1
        layers: list[nn.Module] = [nn.Conv2d(in_dim, ch[-1], 1)]
        prev = ch[-1]
        for j in reversed(range(len(ch))):
            if j < n_down:
                layers += [nn.Upsample(scale_factor=(2, 1), mode="nearest"),
                           nn.Conv2d(prev, prev, (3, 3), padding=1)]
            layers += _stage(prev, ch[j], list(reversed(config.dilations)), g)
            prev = ch[j]
        layers += [_norm(prev, g), nn.SiLU(), nn.Conv2d(prev, 3, (3, 3), padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


# ---------------------------------------------------------------------- helpers
def _pad_time(x: torch.Tensor | None, target: int, fill_last: bool = True) -> torch.Tensor | None:
    """Pad dim 1 to ``target`` by repeating the last frame (or with zeros/False)."""
    if x is None or x.shape[1] == target:
        return x
    extra = target - x.shape[1]
    if fill_last:
        pad = x[:, -1:].expand(-1, extra, *x.shape[2:])
    else:
        pad = x.new_zeros((x.shape[0], extra, *x.shape[2:]))
    return torch.cat([x, pad], 1)


# ---------------------------------------------------------------------- models
class VGMTPreTrainedModel(SkeletonModelMixin, PreTrainedModel):
    config_class = VGMTConfig
    base_model_prefix = "vgmt"
    main_input_name = "skeletons"
    supports_gradient_checkpointing = False
    _supports_sdpa = True  # no attention kernels of its own; the flag keeps composite models happy

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, VisualSkeletonAttention):
            init.zeros_(module.sampling_offsets.weight)
            init.zeros_(module.sampling_offsets.bias)
            init.zeros_(module.attention_weights.weight)
            init.zeros_(module.attention_weights.bias)
            init.normal_(module.joint_embed.weight, std=self.config.initializer_range)
        elif isinstance(module, HybridCodebook):
            halves = ("s", "v") if module.visual_dim else ("s",)
            for h in halves:
                init.normal_(getattr(module, f"embed_{h}"))
                init.copy_(getattr(module, f"ema_sum_{h}"), getattr(module, f"embed_{h}"))
                init.ones_(getattr(module, f"ema_count_{h}"))
            init.zeros_(module.window_usage)
            init.zeros_(module.num_updates)
            init.zeros_(module.initialized)
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            if getattr(module.weight, "_is_hf_initialized", False):
                return
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                init.uniform_(module.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        elif isinstance(module, nn.GroupNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, VGMTModel) and module.part_embed is not None:
            init.normal_(module.part_embed, std=self.config.initializer_range)


class VGMTModel(VGMTPreTrainedModel):
    """Vision-Guided Motion Tokenizer.

    ``encode(skeletons (B, T, J, 3), pixel_values (B, T, 3, H, W) | None) -> codes (B, T', G)``,
    ``decode(codes) -> (B, T' * r, J, 3)``, ``reconstruct(seq) -> SkeletonSequence`` and a ``forward``
    returning the training loss, so ``transformers.Trainer`` trains it directly.
    """

    def __init__(self, config: VGMTConfig):
        super().__init__(config)
        fmt = config.skeleton_format
        J = fmt.num_joints
        self.skeleton_encoder = GridEncoder(3, config.skeletal_dim, config, stem_kernel=3)
        self.vision_backbone = None
        self.visual_sampler = None
        self.visual_encoder = None
        if config.use_vision:
            self.vision_backbone = AutoBackbone.from_config(config.vision_config)
            levels = self._level_channels(self.vision_backbone)
            self.visual_sampler = VisualSkeletonAttention(levels, J, config.num_heads, config.num_points)
            self.visual_encoder = GridEncoder(sum(levels), config.visual_dim, config, stem_kernel=1)
        self.codebook = HybridCodebook(config.num_codes, config.skeletal_dim, config.visual_dim,
                                       decay=config.ema_decay, reset_every=config.reset_every)
        self.decoder = GridDecoder(config.decoder_dim, config)
        if config.token_grouping == "part":
            parts = fmt.parts or {"body": tuple(range(J))}
            self._part_ids = list(parts.values())
            part_of = torch.zeros(J, dtype=torch.long)
            for p, ids in enumerate(self._part_ids):
                part_of[list(ids)] = p
            self._joint_to_part = part_of.tolist()
            self.part_embed = nn.Parameter(torch.zeros(config.decoder_dim, J))
        else:
            self.part_embed = None
        self.post_init()
        self._freeze_backbone()

    # ------------------------------------------------------------------ vision backbone
    def _level_channels(self, backbone: nn.Module) -> list[int]:
        channels = list(backbone.channels)
        if len(channels) < self.config.num_levels:
            raise SkeletonInputError("VGMTConfig.num_levels",
                                     f"at most the {len(channels)} feature maps the backbone returns",
                                     self.config.num_levels)
        return channels[-self.config.num_levels:]

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any):
        # transformers materialises loaded parameters with requires_grad=True: freeze again
        result = super().from_pretrained(*args, **kwargs)
        (result[0] if isinstance(result, tuple) else result)._freeze_backbone()
        return result

    def _freeze_backbone(self) -> None:
        if self.vision_backbone is not None:
            self.vision_backbone.requires_grad_(False)
            self.vision_backbone.eval()

    def train(self, mode: bool = True) -> VGMTModel:
        super().train(mode)
        if self.vision_backbone is not None:
            self.vision_backbone.eval()  # frozen: BatchNorm statistics and dropout stay in eval mode
        return self

    def load_vision_backbone(self, pretrained: str, **kwargs: Any) -> None:
        """Replace the frozen backbone by pretrained weights (a Hub id or local folder), keeping the
        sampled levels of ``config.vision_config``."""
        vc = self.config.vision_config
        out = {"out_features": list(vc.out_features)} if getattr(vc, "out_features", None) else {}
        config = AutoConfig.from_pretrained(pretrained, **out)
        # AutoBackbone.from_pretrained asks the Hub whether the id exists (fails offline and for folders)
        backbone_cls = AutoBackbone._model_mapping[type(config)]
        backbone = backbone_cls.from_pretrained(pretrained, config=config, **kwargs)
        if self._level_channels(backbone) != self.visual_sampler.level_channels:
            raise CheckpointError(pretrained, f"backbone feature channels {self._level_channels(backbone)} "
                                              f"differ from the model's {self.visual_sampler.level_channels}")
        self.vision_backbone = backbone.to(self.device)
        self.config.vision_config = backbone.config
        self._freeze_backbone()

    def visual_features(self, pixel_values: torch.Tensor, joints_2d: torch.Tensor) -> torch.Tensor:
        """pixel_values (B, T, 3, H, W) normalised as the backbone expects, joints_2d (B, T, J, 2) in
        [-1, 1] -> sampled features (B, sum C_l, T, J)."""
        B, T = pixel_values.shape[:2]
        with torch.no_grad():
            maps = self.vision_backbone(pixel_values.flatten(0, 1)).feature_maps
        maps = [self._as_map(f, pixel_values.shape[-2:]) for f in list(maps)[-self.config.num_levels:]]
        feats = self.visual_sampler(maps, joints_2d.flatten(0, 1))  # (B*T, J, C)
        return feats.view(B, T, *feats.shape[1:]).permute(0, 3, 1, 2)

    @staticmethod
    def _as_map(feature: torch.Tensor, image_hw) -> torch.Tensor:
        """ViT backbones (VitPose) return token sequences (N, H'W', C): fold them back to (N, C, H', W')
        using the image's aspect ratio."""
        if feature.ndim == 4:
            return feature
        n, tokens, c = feature.shape
        H, W = int(image_hw[0]), int(image_hw[1])
        h = max(1, round(math.sqrt(tokens * H / W)))
        if tokens % h:
            raise SkeletonInputError("vision backbone feature map", f"a token grid matching a {H}x{W} image",
                                     tuple(feature.shape))
        return feature.transpose(1, 2).reshape(n, c, h, tokens // h)

    # ------------------------------------------------------------------ input checks
    def _check_inputs(self, skeletons, pixel_values, joints_2d, skeleton_mask):
        J = self.config.num_joints
        if not torch.is_tensor(skeletons) or skeletons.ndim != 4 or skeletons.shape[2:] != (J, 3):
            raise SkeletonInputError("skeletons", f"a tensor (B, T, {J}, 3) for format "
                                                  f"{self.config.skeleton_format.name!r}",
                                     tuple(skeletons.shape) if torch.is_tensor(skeletons) else type(skeletons))
        if not skeletons.is_floating_point():
            raise SkeletonInputError("skeletons", "a floating-point tensor", str(skeletons.dtype))
        B, T = skeletons.shape[:2]
        if T < 1:
            raise SkeletonInputError("skeletons", "at least one frame", tuple(skeletons.shape))
        if skeleton_mask is not None and tuple(skeleton_mask.shape) != (B, T, J):
            raise SkeletonInputError("skeleton_mask", f"shape {(B, T, J)}", tuple(skeleton_mask.shape))
        if pixel_values is not None:
            if self.vision_backbone is None:
                raise SkeletonInputError("pixel_values", "None: this VGMT has no visual stream "
                                                         "(use_vision=False)", tuple(pixel_values.shape))
            if pixel_values.ndim != 5 or pixel_values.shape[:3] != (B, T, 3):
                raise SkeletonInputError("pixel_values", f"(B, T, 3, H, W) with B={B}, T={T}",
                                         tuple(pixel_values.shape))
        if joints_2d is not None and tuple(joints_2d.shape) != (B, T, J, 2):
            raise SkeletonInputError("joints_2d", f"shape {(B, T, J, 2)}", tuple(joints_2d.shape))

    # ------------------------------------------------------------------ encoder side
    def _encode(self, skeletons, pixel_values=None, joints_2d=None, skeleton_mask=None):
        """Returns (codebook output, valid (B, T', G), T', padded T)."""
        self._check_inputs(skeletons, pixel_values, joints_2d, skeleton_mask)
        B, T, J, _ = skeletons.shape
        r = self.config.temporal_downsample
        Tp = -(-T // r) * r
        mask = (torch.ones(B, T, J, dtype=torch.bool, device=skeletons.device) if skeleton_mask is None
                else skeleton_mask.bool())
        x = skeletons * mask[..., None]
        x, mask_p = _pad_time(x, Tp), _pad_time(mask, Tp, fill_last=False)
        z_s = self.skeleton_encoder(x.permute(0, 3, 1, 2).to(self.dtype))  # (B, Ds, T', J)
        z_v = None
        if pixel_values is not None:
            if joints_2d is None:
                joints_2d = skeletons[..., :2]  # image-coordinate 3D: x, y already in [-1, 1]
            pv, j2 = _pad_time(pixel_values, Tp), _pad_time(joints_2d, Tp)
            z_v = self.visual_encoder(self.visual_features(pv.to(self.dtype), j2.to(self.dtype)))
        valid = mask_p.view(B, Tp // r, r, J).any(2)  # (B, T', J)
        if self.config.token_grouping == "part":
            z_s, z_v = self._pool_parts(z_s), (None if z_v is None else self._pool_parts(z_v))
            valid = torch.stack([valid[..., list(ids)].any(-1) for ids in self._part_ids], -1)
        G, Tq = z_s.shape[-1], z_s.shape[2]
        flat = lambda z: z.permute(0, 2, 3, 1).reshape(B * Tq * G, -1)
        out = self.codebook(flat(z_s), None if z_v is None else flat(z_v), valid.reshape(-1))
        return out, valid, Tq, G

    def _pool_parts(self, z: torch.Tensor) -> torch.Tensor:
        return torch.stack([z[..., list(ids)].mean(-1) for ids in self._part_ids], -1)

    @torch.no_grad()
    def encode(self, skeletons: torch.Tensor, pixel_values: torch.Tensor | None = None,
               skeleton_mask: torch.Tensor | None = None, joints_2d: torch.Tensor | None = None) -> torch.Tensor:
        """Tokenise motion: skeletons (B, T, J, 3) in [-1, 1] (see :func:`normalize_motion`), optional
        frames (B, T, 3, H, W) and 2D joints (B, T, J, 2) in [-1, 1] (default: x, y of ``skeletons``).
        Returns codes (B, ceil(T / r), G): G = J, or the number of body parts with part grouping.
        Without ``pixel_values`` the skeletal distance alone chooses the codes (no RGB needed)."""
        was_training = self.training
        self.eval()
        try:
            out, _, Tq, G = self._encode(skeletons, pixel_values, joints_2d, skeleton_mask)
        finally:
            self.train(was_training)
        return out.codes.view(skeletons.shape[0], Tq, G)

    # ------------------------------------------------------------------ decoder side
    def _decode_full(self, full: torch.Tensor) -> torch.Tensor:
        """full codes (B, T', G, D) -> (B, T' * r, J, 3)."""
        h = full.permute(0, 3, 1, 2)
        if self.part_embed is not None:
            h = h[..., self._joint_to_part] + self.part_embed[None, :, None, :]
        return self.decoder(h.to(self.dtype)).permute(0, 2, 3, 1)

    def decode(self, codes: torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        """codes (B, T', G) -> motion (B, T' * r, J, 3), cropped to ``num_frames`` when given."""
        G = self.config.num_tokens_per_step
        if not torch.is_tensor(codes) or codes.ndim != 3 or codes.shape[-1] != G:
            raise SkeletonInputError("codes", f"an integer tensor (B, T', {G})",
                                     tuple(codes.shape) if torch.is_tensor(codes) else type(codes))
        motion = self._decode_full(self.codebook.lookup(codes))
        return motion if num_frames is None else motion[:, :num_frames]

    # ------------------------------------------------------------------ training forward
    def forward(self, skeletons: torch.Tensor, pixel_values: torch.Tensor | None = None,
                skeleton_mask: torch.Tensor | None = None, joints_2d: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, return_loss: bool = True, **kwargs: Any) -> VGMTOutput:
        """skeletons (B, T, J, 3), pixel_values (B, T, 3, H, W) or None, skeleton_mask (B, T, J),
        joints_2d (B, T, J, 2), labels (B, T, J, 3) target motion (default: ``skeletons``)."""
        if (self.training and pixel_values is not None and self.config.skeleton_only_prob > 0
                and float(torch.rand(())) < self.config.skeleton_only_prob):
            pixel_values = None
        out, _valid, Tq, G = self._encode(skeletons, pixel_values, joints_2d, skeleton_mask)
        B, T = skeletons.shape[:2]
        full = out.quantized.view(B, Tq, G, -1)
        recon = self._decode_full(full)[:, :T]
        loss = recon_loss = None
        if return_loss or labels is not None:
            target = skeletons if labels is None else labels
            if tuple(target.shape) != tuple(skeletons.shape):
                raise SkeletonInputError("labels", f"target motion of shape {tuple(skeletons.shape)}",
                                         tuple(target.shape))
            err = (recon - target.to(recon.dtype)).norm(dim=-1)
            if skeleton_mask is not None:
                m = skeleton_mask.bool()
                recon_loss = err[m].mean() if bool(m.any()) else err.sum() * 0.0
            else:
                recon_loss = err.mean()
            loss = recon_loss + self.config.beta_s * out.commit_s + self.config.beta_v * out.commit_v
        return VGMTOutput(loss=loss, reconstruction=recon, codes=out.codes.view(B, Tq, G),
                          last_hidden_state=full, perplexity=out.perplexity, recon_loss=recon_loss,
                          commit_loss_s=out.commit_s, commit_loss_v=out.commit_v)

    # ------------------------------------------------------------------ sequences
    @torch.no_grad()
    def reconstruct(self, seq: SkeletonSequence, pixel_values: torch.Tensor | None = None,
                    joints_2d: torch.Tensor | None = None, window: int | None = None) -> SkeletonSequence:
        """Tokenise and decode a clip; each person is one batch row. The clip is normalised into
        [-1, 1] first and the output is mapped back to the input's own coordinates and units; frames
        beyond a multiple of the temporal factor are handled by padding and cropping.

        ``window``: reconstruct a long clip in consecutive windows of this many frames, each
        normalised by its own box like the training clips (a whole walk in one box loses precision).
        ``vgmt_codes`` in the output's meta then lists the codes of each window.
        """
        if not isinstance(seq, SkeletonSequence):
            raise SkeletonInputError("seq", "a SkeletonSequence", type(seq).__name__)
        if seq.format != self.config.skeleton_format:
            raise SkeletonInputError("seq.format", f"format {self.config.skeleton_format.name!r} "
                                                   "(convert with seq.to_format first)", seq.format.name)
        if window is not None:
            if isinstance(window, bool) or not isinstance(window, int) or window < 1:
                raise SkeletonInputError("window", "a positive number of frames", window)
            if seq.num_frames > window:
                if pixel_values is not None or joints_2d is not None:
                    raise SkeletonInputError("window", "None when video is given (windows are skeleton-only)",
                                             window)
                parts = [self.reconstruct(seq.frame_range(s, s + window)) for s in range(0, seq.num_frames, window)]
                positions = np.concatenate([p.positions for p in parts])
                meta = dict(seq.meta, vgmt_codes=[p.meta["vgmt_codes"] for p in parts])
                return SkeletonSequence(positions=positions, mask=seq.mask.copy(), fps=seq.fps, format=seq.format,
                                        meta=meta)
        pos = torch.from_numpy(seq.positions).permute(1, 0, 2, 3).to(self.device)  # (P, T, J, 3)
        mask = torch.from_numpy(seq.mask).permute(1, 0, 2).to(self.device)
        if pixel_values is not None and joints_2d is None:
            joints_2d = pos[..., :2].to(self.dtype)
        # the box normalisation of VGMTProcessor (skeletons/box.py), undone on the decoded motion
        normed, centre, scale = box_normalize(pos, mask)
        codes = self.encode(normed.to(self.dtype), pixel_values, skeleton_mask=mask, joints_2d=joints_2d)
        out = box_denormalize(self.decode(codes, num_frames=seq.num_frames).float(), centre, scale)
        positions = out.permute(1, 0, 2, 3).cpu().numpy().astype(np.float32)
        meta = dict(seq.meta, vgmt_codes=codes.cpu().numpy())
        return SkeletonSequence(positions=positions, mask=seq.mask.copy(), fps=seq.fps, format=seq.format,
                                meta=meta)
