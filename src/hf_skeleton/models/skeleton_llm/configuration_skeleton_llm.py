"""Configuration of SkeletonLLM: a DrAction renderer in front of any Hugging Face VLM."""

from __future__ import annotations

from typing import Any, Mapping

from transformers import AutoConfig, PretrainedConfig

from ...backbone_weights import backbone_fields
from ...errors import SkeletonInputError
from ...modeling_utils import SkeletonConfigMixin
from ..draction.configuration_draction import DrActionConfig
from .image_adapters import VISION_TOWER_FAMILIES, VLM_FAMILIES, ImageAdapterConfig, vlm_family

FRAMES_AS = ("images", "video")


def _vlm_config(value: Any) -> PretrainedConfig:
    if value is None:
        from transformers import Qwen2_5_VLConfig

        return Qwen2_5_VLConfig()
    if isinstance(value, PretrainedConfig):
        return value
    if isinstance(value, Mapping) and "model_type" in value:
        data = dict(value)
        return AutoConfig.for_model(data.pop("model_type"), **data)
    raise SkeletonInputError("SkeletonLLMConfig.vlm_config", "a transformers config or its dict with 'model_type'",
                             type(value).__name__)


class SkeletonLLMConfig(SkeletonConfigMixin, PretrainedConfig):
    r"""Configuration of :class:`SkeletonLLMModel` / :class:`SkeletonLLMForConditionalGeneration`.

    Args:
        draction_config: the renderer (:class:`DrActionConfig` or its dict). Its ``num_frames`` and
            ``image_size`` are the frames per clip and their size; the paper renders 12 frames of
            448 x 448, one image per frame.
        vlm_config: any ``AutoModelForImageTextToText`` config (or its dict): Qwen2-VL / Qwen2.5-VL,
            InternVL, LLaVA. Default: Qwen2.5-VL-7B's architecture.
        frames_as: ``"images"`` (one image per rendered frame, the paper) or ``"video"`` (the VLM's
            video input, Qwen2-VL family only: pairs of frames share a temporal patch).
        skeleton_token: the placeholder the processor expands into the VLM's visual tokens.
        image_adapter: :class:`ImageAdapterConfig` (or dict) describing the VLM's image processor;
            None picks the defaults of the VLM's model type. Pass the checkpoint's own processor
            values (``ImageAdapterConfig.from_image_processor``) when building from a checkpoint.
        backbone_weights: where the pretrained tensors a saved folder omits come from (a list of
            ``{"backbone", "source", "target"}``; see :mod:`hf_skeleton.backbone_weights`); ``None``: the
            folder holds every tensor.
        lora: LoRA layers the language model carries (a ``peft.LoraConfig`` dict, kept unmerged so only
            the adapters ship); ``None``: none.
    """

    model_type = "skeleton_llm"
    optional_config_fields = ("backbone_weights", "lora")
    sub_configs = {"draction_config": DrActionConfig, "vlm_config": AutoConfig}

    def __init__(self, draction_config: Any = None, vlm_config: Any = None, frames_as: str = "images",
                 skeleton_token: str = "<skeleton>", image_adapter: Any = None,
                 backbone_weights: list[dict[str, str]] | None = None, lora: Mapping[str, Any] | None = None,
                 **kwargs: Any):
        self.backbone_weights, self.lora = backbone_fields("SkeletonLLMConfig", backbone_weights, lora)
        if draction_config is None:
            draction_config = DrActionConfig(num_frames=12, image_size=448)
        elif isinstance(draction_config, Mapping):
            draction_config = DrActionConfig(**draction_config)
        if not isinstance(draction_config, DrActionConfig):
            raise SkeletonInputError("SkeletonLLMConfig.draction_config", "a DrActionConfig or its dict",
                                     type(draction_config).__name__)
        self.draction_config = draction_config
        self.vlm_config = _vlm_config(vlm_config)
        family = vlm_family(self.vlm_config)
        if family is None:
            raise SkeletonInputError("SkeletonLLMConfig.vlm_config.model_type", f"one of {sorted(VLM_FAMILIES)}",
                                     self.vlm_config.model_type)
        _check_token_tower(self.vlm_config)
        if frames_as not in FRAMES_AS:
            raise SkeletonInputError("SkeletonLLMConfig.frames_as", f"one of {FRAMES_AS}", frames_as)
        if frames_as == "video" and family != "qwen2_vl":
            raise SkeletonInputError("SkeletonLLMConfig.frames_as", "'images' for a VLM without a video input",
                                     self.vlm_config.model_type)
        self.frames_as = frames_as
        if not isinstance(skeleton_token, str) or not skeleton_token:
            raise SkeletonInputError("SkeletonLLMConfig.skeleton_token", "a non-empty string", skeleton_token)
        self.skeleton_token = skeleton_token
        if image_adapter is None:
            image_adapter = ImageAdapterConfig.for_vlm_config(self.vlm_config, draction_config.image_size)
        elif isinstance(image_adapter, Mapping):
            image_adapter = ImageAdapterConfig(**image_adapter)
        if not isinstance(image_adapter, ImageAdapterConfig) or image_adapter.family != family:
            raise SkeletonInputError("SkeletonLLMConfig.image_adapter", f"an ImageAdapterConfig of family {family!r}",
                                     getattr(image_adapter, "family", image_adapter))
        self.image_adapter = image_adapter.to_dict()
        text = self.text_config
        kwargs.setdefault("tie_word_embeddings", bool(getattr(text, "tie_word_embeddings", False)))
        # PretrainedConfig.__init__ pushes its attention implementation down to every sub-config:
        # keep the one an already-built VLM (from_backbone_pretrained) runs with
        vlm_attn = getattr(self.vlm_config, "_attn_implementation_internal", None)
        if kwargs.get("attn_implementation") is None and vlm_attn is not None:
            kwargs["attn_implementation"] = {"vlm_config": vlm_attn}
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ derived
    @property
    def text_config(self) -> PretrainedConfig:
        return self.vlm_config.get_text_config()

    @property
    def family(self) -> str:
        return vlm_family(self.vlm_config)

    @property
    def num_frames(self) -> int:
        return self.draction_config.num_frames

    @property
    def image_size(self) -> int:
        return self.draction_config.image_size

    @property
    def image_token_id(self) -> int:
        cfg = self.vlm_config
        tid = getattr(cfg, "image_token_id", None)
        return tid if tid is not None else cfg.image_token_index

    @property
    def video_token_id(self) -> int | None:
        return getattr(self.vlm_config, "video_token_id", None)

    def adapter_config(self) -> ImageAdapterConfig:
        return ImageAdapterConfig(**self.image_adapter)

    def visual_tokens_per_frame(self) -> int:
        """LLM tokens one rendered frame becomes (per frame pair for ``frames_as="video"`` on Qwen)."""
        from .image_adapters import ImageAdapter

        adapter = ImageAdapter(self.adapter_config())
        cfg, side = self.vlm_config, self.image_size
        if self.family == "qwen2_vl":
            gh, gw = adapter.grid(side, side)
            return gh * gw // cfg.vision_config.spatial_merge_size ** 2
        if _token_tower(cfg):  # a CNN tower pooling each image to a fixed token grid
            return cfg.vision_config.num_image_tokens
        h, w = adapter.output_size(side, side)
        patch = _first(cfg.vision_config.patch_size)
        n = (h // patch) * (w // patch)
        if self.family == "got_ocr2":  # InternVL pixel-shuffles by downsample_ratio
            return int(n * cfg.downsample_ratio ** 2)
        strategy = getattr(cfg, "vision_feature_select_strategy", "default")
        return n + (1 if strategy == "full" else 0)

    def num_visual_tokens(self) -> int:
        """Placeholder tokens one clip expands to (without start/end markers)."""
        per = self.visual_tokens_per_frame()
        if self.frames_as == "video":
            tps = self.adapter_config().temporal_patch_size
            return per * -(-self.num_frames // tps)
        return per * self.num_frames

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["draction_config"] = self.draction_config.to_dict()
        out["vlm_config"] = self.vlm_config.to_dict()
        return out


def _token_tower(vlm_config) -> bool:
    """A LLaVA whose vision tower is a CNN giving a fixed token grid (EfficientNet-Lite)."""
    return getattr(getattr(vlm_config, "vision_config", None), "model_type", None) in VISION_TOWER_FAMILIES


def _check_token_tower(vlm_config) -> None:
    if not _token_tower(vlm_config):
        return
    vision = vlm_config.vision_config
    if getattr(vision, "num_image_tokens", None) is None:
        raise SkeletonInputError("SkeletonLLMConfig.vlm_config.vision_config.token_grid",
                                 "a positive integer (the tower's tokens per image, pooled)", None)
    for name, expected in (("vision_feature_layer", -1), ("vision_feature_select_strategy", "full")):
        if getattr(vlm_config, name, expected) != expected:
            raise SkeletonInputError(f"SkeletonLLMConfig.vlm_config.{name}",
                                     f"{expected!r} for a {vision.model_type} tower (its tokens have no CLS)",
                                     getattr(vlm_config, name))


def _first(value):
    return value[0] if isinstance(value, (list, tuple)) else value
