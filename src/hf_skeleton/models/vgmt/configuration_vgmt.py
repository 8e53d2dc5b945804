"""Configuration of VGMT, the Vision-Guided Motion Tokenizer of Superman (CVPR 2026)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transformers import AutoConfig, PretrainedConfig

from ...errors import SkeletonInputError
from ...modeling_utils import FormatConfigMixin, SkeletonConfigMixin
from ...skeletons.formats import SkeletonFormat, format_for_config, get_format

TOKEN_GROUPINGS = ("joint", "part")


def default_vision_config() -> PretrainedConfig:
    """The paper's frozen pose backbone role (HRNet-W32, 4 levels) filled by ViTPose-base.

    Four levels are read from layers 3, 6, 9 and 12 of the ViT (all at stride 16). Load real weights
    with :meth:`VGMTModel.load_vision_backbone` (e.g. ``usyd-community/vitpose-base-simple``).
    """
    return AutoConfig.for_model("vitpose_backbone", out_indices=[3, 6, 9, 12])


class VGMTConfig(FormatConfigMixin, SkeletonConfigMixin, PretrainedConfig):
    r"""Configuration of :class:`VGMTModel`.

    Defaults are the paper's: 8192 codes of 2048 = [visual 1024 | skeletal 1024], channels 128 -> 512,
    x2 temporal compression (16 frames -> 8 steps), beta_s = beta_v = 0.5, EMA decay 0.99, dead-code
    reset every 20 steps, a frozen 4-level pose backbone sampled at the joints.

    Args:
        format: skeleton format (registered name, :class:`SkeletonFormat` or its dict); J and the
            body parts come from it.
        num_codes: codebook size K.
        code_dim: size of one full code. With a visual stream it is split in halves
            ``[visual | skeletal]``; without one (``use_vision=False``) the skeletal half alone
            (``code_dim // 2``) forms the code, so a skeleton-only model has the same per-stream width.
        channels: widths of the encoder stages (first = c0 of the 3 -> c0 convolution); the decoder
            mirrors them.
        dilations: dilation along time of the residual blocks of each stage (one block per entry).
        temporal_downsample: temporal compression, a power of two (x2 pooling after the first stages).
        norm_groups: GroupNorm groups (reduced to a divisor of the width where needed).
        beta_s, beta_v: commitment weights of the skeletal and visual halves.
        ema_decay: EMA decay of code counts and sums.
        reset_every: dead-code reset period in training steps (0 disables).
        use_vision: whether the model has the visual stream.
        vision_config: config of the frozen backbone (any transformers backbone returning feature maps,
            e.g. ``ResNetConfig(out_features=[...])`` or ``VitPoseBackboneConfig``); ``None`` with
            ``use_vision=True`` gives :func:`default_vision_config`.
        num_heads, num_points: deformable Visual-Skeleton Attention heads and sampling points per level.
        num_levels: feature levels sampled (the last ``num_levels`` maps of the backbone).
        token_grouping: ``"joint"`` (one code per step and joint, the paper) or ``"part"`` (one code per
            step and body part of the format, features mean-pooled over the part's joints).
        skeleton_only_prob: probability, in training, of quantising a batch with the skeletal term alone
            (0 in the paper; > 0 trains the decoder for RGB-free encoding of a fused model).
    """

    model_type = "vgmt"
    sub_configs = {"vision_config": AutoConfig}  # noqa: RUF012 (transformers reads this class attribute)

    def __init__(
        self,
        format: str | Mapping[str, Any] | SkeletonFormat = "h36m17",
        num_codes: int = 8192,
        code_dim: int = 2048,
        channels: Sequence[int] = (128, 256, 512),
        dilations: Sequence[int] = (1, 3),
        temporal_downsample: int = 2,
        norm_groups: int = 32,
        beta_s: float = 0.5,
        beta_v: float = 0.5,
        ema_decay: float = 0.99,
        reset_every: int = 20,
        use_vision: bool = True,
        vision_config: PretrainedConfig | Mapping[str, Any] | None = None,
        num_heads: int = 8,
        num_points: int = 4,
        num_levels: int = 4,
        token_grouping: str = "joint",
        skeleton_only_prob: float = 0.0,
        initializer_range: float = 0.02,
        **kwargs: Any,
    ):
        fmt = get_format(format)
        self.format = format_for_config(fmt)
        self.num_codes = int(num_codes)
        self.code_dim = int(code_dim)
        self.channels = [int(c) for c in channels]
        self.dilations = [int(d) for d in dilations]
        self.temporal_downsample = int(temporal_downsample)
        self.norm_groups = int(norm_groups)
        self.beta_s = float(beta_s)
        self.beta_v = float(beta_v)
        self.ema_decay = float(ema_decay)
        self.reset_every = int(reset_every)
        self.use_vision = bool(use_vision)
        if isinstance(vision_config, Mapping):
            vision_config = dict(vision_config)
            vision_config = AutoConfig.for_model(vision_config.pop("model_type"), **vision_config)
        if self.use_vision and vision_config is None:
            vision_config = default_vision_config()
        self.vision_config = vision_config if self.use_vision else None
        self.num_heads = int(num_heads)
        self.num_points = int(num_points)
        self.num_levels = int(num_levels)
        self.token_grouping = str(token_grouping)
        self.skeleton_only_prob = float(skeleton_only_prob)
        self.initializer_range = float(initializer_range)
        super().__init__(**kwargs)
        self._check()

    # ------------------------------------------------------------------ derived
    @property
    def skeletal_dim(self) -> int:
        return self.code_dim // 2

    @property
    def visual_dim(self) -> int:
        return self.code_dim // 2 if self.use_vision else 0

    @property
    def decoder_dim(self) -> int:
        """Width of a full code, the decoder's input: visual + skeletal halves."""
        return self.visual_dim + self.skeletal_dim

    @property
    def part_names(self) -> list[str]:
        return list(self.skeleton_format.parts) or ["body"]

    @property
    def num_tokens_per_step(self) -> int:
        return self.num_joints if self.token_grouping == "joint" else len(self.part_names)

    # ------------------------------------------------------------------ validation
    def _check(self) -> None:
        def bad(name: str, expected: str, found: Any) -> None:
            raise SkeletonInputError(f"VGMTConfig.{name}", expected, found)

        if self.num_codes < 2:
            bad("num_codes", "an integer >= 2", self.num_codes)
        if self.code_dim < 2 or self.code_dim % 2:
            bad("code_dim", "an even integer >= 2 (visual and skeletal halves)", self.code_dim)
        if not self.channels or min(self.channels) < 1:
            bad("channels", "a non-empty list of positive widths", self.channels)
        if not self.dilations or min(self.dilations) < 1:
            bad("dilations", "a non-empty list of positive dilations", self.dilations)
        td = self.temporal_downsample
        if td < 1 or td & (td - 1):
            bad("temporal_downsample", "a power of two (1, 2, 4, ...)", td)
        if td.bit_length() - 1 > len(self.channels):
            bad("temporal_downsample", f"at most 2**len(channels) = {2 ** len(self.channels)}", td)
        if self.norm_groups < 1:
            bad("norm_groups", "a positive integer", self.norm_groups)
        for name in ("beta_s", "beta_v"):
            if getattr(self, name) < 0:
                bad(name, "a non-negative weight", getattr(self, name))
        if not 0.0 <= self.ema_decay < 1.0:
            bad("ema_decay", "a value in [0, 1)", self.ema_decay)
        if self.reset_every < 0:
            bad("reset_every", "a non-negative number of steps (0 disables)", self.reset_every)
        if self.token_grouping not in TOKEN_GROUPINGS:
            bad("token_grouping", f"one of {TOKEN_GROUPINGS}", self.token_grouping)
        if not 0.0 <= self.skeleton_only_prob <= 1.0:
            bad("skeleton_only_prob", "a probability in [0, 1]", self.skeleton_only_prob)
        if self.use_vision:
            if not isinstance(self.vision_config, PretrainedConfig):
                bad("vision_config", "a transformers backbone config", type(self.vision_config).__name__)
            for name in ("num_heads", "num_points", "num_levels"):
                if getattr(self, name) < 1:
                    bad(name, "a positive integer", getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if out.get("vision_config") is not None and not isinstance(out["vision_config"], dict):
            out["vision_config"] = self.vision_config.to_dict()
        return out

