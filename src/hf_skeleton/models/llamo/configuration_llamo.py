"""Configuration of LLaMo (Li et al., "Human Motion Instruction Tuning", CVPR 2025, arXiv 2411.16805).

LLaMo keeps motion continuous: a transformer motion encoder over (T, J, 3) joint positions and a
video tower over sampled frames feed learnable projectors into a causal LLM; motion queries attend
to video features (the paper's cross-talker fusion). The authors released no code; this is a
LLaVA-style reconstruction from the paper.
"""

from __future__ import annotations

from typing import Any, Mapping

from transformers import AutoConfig, PretrainedConfig

from ...backbone_weights import backbone_fields
from ...errors import SkeletonInputError
from ...modeling_utils import FormatConfigMixin, SkeletonConfigMixin
from ...skeletons.formats import SkeletonFormat, format_for_config, get_format

MOTION_POOLINGS = ("frame", "joint")
VIDEO_POOLINGS = ("cls", "mean", "patch")
FUSIONS = ("cross_attention", "none")


def default_text_config() -> PretrainedConfig:
    """The paper's LLM role: a 7B LLaMA-family decoder (config only; load weights from a checkpoint)."""
    return AutoConfig.for_model("llama")


def default_vision_config() -> PretrainedConfig:
    """The LLaVA video tower: CLIP ViT-L/14 at 336 px (config only)."""
    return AutoConfig.for_model("clip_vision_model", hidden_size=1024, intermediate_size=4096,
                                num_hidden_layers=24, num_attention_heads=16, patch_size=14,
                                image_size=336, projection_dim=768)


def _as_config(value: PretrainedConfig | Mapping[str, Any] | None, name: str) -> PretrainedConfig | None:
    if value is None or isinstance(value, PretrainedConfig):
        return value
    if isinstance(value, Mapping):
        data = dict(value)
        if "model_type" not in data:
            raise SkeletonInputError(f"LlamoConfig.{name}", "a config dict with a 'model_type' key",
                                     sorted(data))
        return AutoConfig.for_model(data.pop("model_type"), **data)
    raise SkeletonInputError(f"LlamoConfig.{name}", "a transformers config, a dict or None",
                             type(value).__name__)


class LlamoConfig(FormatConfigMixin, SkeletonConfigMixin, PretrainedConfig):
    r"""Configuration of :class:`LlamoModel` / :class:`LlamoForConditionalGeneration`.

    Args:
        format: skeleton format of the motion input (registered name, :class:`SkeletonFormat` or its
            dict). J, joint identities and body parts come from it; nothing hard-codes J.
        motion_hidden_size: width of the motion encoder.
        motion_num_layers: number of (spatial + temporal) attention block pairs.
        motion_num_heads: attention heads of the motion encoder.
        motion_intermediate_size: MLP width of the motion encoder.
        motion_dropout: dropout inside the motion encoder.
        max_motion_frames: length of the learned temporal position table; the processor resamples
            longer clips to this many frames.
        motion_use_velocity: feed finite-difference joint velocities next to positions (6 channels).
        motion_pooling: ``"frame"`` (one token per time step, joints pooled) or ``"joint"`` (one token
            per (time step, joint)).
        motion_temporal_stride: frames averaged into one time step (1 keeps every frame).
        vision_config: any transformers vision tower config (CLIP / SigLIP vision); ``None`` for a
            motion-only model. ``use_video=True`` with ``None`` gives :func:`default_vision_config`.
        use_video: whether the model has a video tower.
        num_video_frames: frames sampled per video.
        vision_feature_layer: hidden-state index of the tower read (LLaVA reads the penultimate, -2).
        video_pooling: per frame ``"cls"`` (1 token), ``"mean"`` (1 token, mean of patches) or
            ``"patch"`` (every patch token).
        fusion: ``"cross_attention"`` (motion queries attend to the video tokens, residual) or
            ``"none"``.
        fusion_num_heads: heads of the fusion cross-attention.
        projector_hidden_act: activation of the two-layer MLP projectors.
        text_config: config of any causal LM (``AutoModelForCausalLM``); ``None`` gives
            :func:`default_text_config`.
        motion_token_id, video_token_id: ids of the ``<motion>`` / ``<video>`` placeholder tokens.
        motion_token, video_token: their strings (the processor adds them to the tokenizer).
        backbone_weights: where the pretrained tensors a saved folder omits come from (a list of
            ``{"backbone", "source", "target"}``; see :mod:`hf_skeleton.backbone_weights`); ``None``: the
            folder holds every tensor.
        lora: LoRA layers the language model carries (a ``peft.LoraConfig`` dict, kept unmerged so only
            the adapters ship); ``None``: none.
    """

    model_type = "llamo"
    optional_config_fields = ("backbone_weights", "lora")
    sub_configs = {"text_config": AutoConfig, "vision_config": AutoConfig}

    def __init__(
        self,
        format: str | Mapping[str, Any] | SkeletonFormat = "smpl22",
        motion_hidden_size: int = 512,
        motion_num_layers: int = 4,
        motion_num_heads: int = 8,
        motion_intermediate_size: int = 2048,
        motion_dropout: float = 0.1,
        max_motion_frames: int = 196,
        motion_use_velocity: bool = True,
        motion_pooling: str = "frame",
        motion_temporal_stride: int = 4,
        vision_config: PretrainedConfig | Mapping[str, Any] | None = None,
        use_video: bool = True,
        num_video_frames: int = 8,
        vision_feature_layer: int = -2,
        video_pooling: str = "patch",
        fusion: str = "cross_attention",
        fusion_num_heads: int = 8,
        projector_hidden_act: str = "gelu",
        text_config: PretrainedConfig | Mapping[str, Any] | None = None,
        motion_token_id: int | None = None,
        video_token_id: int | None = None,
        motion_token: str = "<motion>",
        video_token: str = "<video>",
        initializer_range: float = 0.02,
        tie_word_embeddings: bool = False,
        backbone_weights: list[dict[str, str]] | None = None,
        lora: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ):
        self.backbone_weights, self.lora = backbone_fields("LlamoConfig", backbone_weights, lora)
        fmt = get_format(format)
        self.format = format_for_config(fmt)
        self.motion_hidden_size = int(motion_hidden_size)
        self.motion_num_layers = int(motion_num_layers)
        self.motion_num_heads = int(motion_num_heads)
        self.motion_intermediate_size = int(motion_intermediate_size)
        self.motion_dropout = float(motion_dropout)
        self.max_motion_frames = int(max_motion_frames)
        self.motion_use_velocity = bool(motion_use_velocity)
        self.motion_pooling = str(motion_pooling)
        self.motion_temporal_stride = int(motion_temporal_stride)
        self.use_video = bool(use_video)
        vision_config = _as_config(vision_config, "vision_config")
        if self.use_video and vision_config is None:
            vision_config = default_vision_config()
        self.vision_config = vision_config if self.use_video else None
        self.num_video_frames = int(num_video_frames)
        self.vision_feature_layer = int(vision_feature_layer)
        self.video_pooling = str(video_pooling)
        self.fusion = str(fusion)
        self.fusion_num_heads = int(fusion_num_heads)
        self.projector_hidden_act = str(projector_hidden_act)
        text_config = _as_config(text_config, "text_config")
        self.text_config = text_config if text_config is not None else default_text_config()
        self.motion_token_id = None if motion_token_id is None else int(motion_token_id)
        self.video_token_id = None if video_token_id is None else int(video_token_id)
        self.motion_token = str(motion_token)
        self.video_token = str(video_token)
        self.initializer_range = float(initializer_range)
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)
        self._check()

    # ------------------------------------------------------------------ derived
    @property
    def motion_input_channels(self) -> int:
        return 6 if self.motion_use_velocity else 3

    def num_motion_steps(self, num_frames: int) -> int:
        """Time steps the encoder emits for a clip of ``num_frames`` frames."""
        stride = self.motion_temporal_stride
        return (int(num_frames) + stride - 1) // stride

    def num_motion_tokens(self, num_frames: int) -> int:
        """``<motion>`` tokens for a clip of ``num_frames`` observed frames."""
        per_step = self.num_joints if self.motion_pooling == "joint" else 1
        return self.num_motion_steps(num_frames) * per_step

    @property
    def num_video_tokens_per_frame(self) -> int:
        if self.vision_config is None:
            return 0
        if self.video_pooling in ("cls", "mean"):
            return 1
        return self.num_video_patches

    @property
    def num_video_patches(self) -> int:
        """Tokens the tower gives per frame: its pooled grid (EfficientNet-Lite) or its patches (CLIP/SigLIP)."""
        vc = self.vision_config
        if getattr(vc, "num_image_tokens", None):
            return int(vc.num_image_tokens)
        return (int(vc.image_size) // int(vc.patch_size)) ** 2

    @property
    def num_video_tokens(self) -> int:
        return self.num_video_frames * self.num_video_tokens_per_frame

    # ------------------------------------------------------------------ validation
    def _check(self) -> None:
        def bad(name: str, expected: str, found: Any) -> None:
            raise SkeletonInputError(f"LlamoConfig.{name}", expected, found)

        for name in ("motion_hidden_size", "motion_num_layers", "motion_num_heads", "motion_intermediate_size",
                     "max_motion_frames", "motion_temporal_stride", "num_video_frames", "fusion_num_heads"):
            if getattr(self, name) < 1:
                bad(name, "a positive integer", getattr(self, name))
        if self.motion_hidden_size % self.motion_num_heads:
            bad("motion_num_heads", f"a divisor of motion_hidden_size ({self.motion_hidden_size})",
                self.motion_num_heads)
        if not 0.0 <= self.motion_dropout < 1.0:
            bad("motion_dropout", "a probability in [0, 1)", self.motion_dropout)
        if self.motion_pooling not in MOTION_POOLINGS:
            bad("motion_pooling", f"one of {MOTION_POOLINGS}", self.motion_pooling)
        if self.video_pooling not in VIDEO_POOLINGS:
            bad("video_pooling", f"one of {VIDEO_POOLINGS}", self.video_pooling)
        if self.fusion not in FUSIONS:
            bad("fusion", f"one of {FUSIONS}", self.fusion)
        hidden = getattr(self.text_config, "hidden_size", None)
        if not isinstance(hidden, int):
            bad("text_config", "a causal-LM config with an integer hidden_size", type(self.text_config).__name__)
        if self.fusion == "cross_attention" and self.use_video and hidden % self.fusion_num_heads:
            bad("fusion_num_heads", f"a divisor of the LLM hidden size ({hidden})", self.fusion_num_heads)
        if self.vision_config is not None:
            token_tower = bool(getattr(self.vision_config, "num_image_tokens", None))
            for key in ("hidden_size", "image_size") + (() if token_tower else ("patch_size",)):
                if not isinstance(getattr(self.vision_config, key, None), int):
                    bad("vision_config", f"a vision tower config with an integer {key} (CLIP / SigLIP vision, "
                                         "or EfficientNet-Lite with token_grid)", type(self.vision_config).__name__)
            if token_tower and self.vision_feature_layer != -1:
                bad("vision_feature_layer", "-1 for a tower that pools its last map into tokens",
                    self.vision_feature_layer)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        for key in ("text_config", "vision_config"):
            value = getattr(self, key)
            if value is not None and not isinstance(out.get(key), dict):
                out[key] = value.to_dict()
        return out

