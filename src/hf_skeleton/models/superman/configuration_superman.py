"""Configuration of Superman (CVPR 2026): a VLM that reads and writes VGMT motion tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from transformers import AutoConfig, PretrainedConfig

from ...backbone_weights import backbone_fields
from ...errors import SkeletonInputError
from ...modeling_utils import SkeletonConfigMixin
from ..vgmt.configuration_vgmt import VGMTConfig


def _as_config(value: Any, default_type: str) -> PretrainedConfig:
    if isinstance(value, PretrainedConfig):
        return value
    data = dict(value or {})
    model_type = data.pop("model_type", default_type)
    if model_type == "vgmt":
        return VGMTConfig(**data)
    return AutoConfig.for_model(model_type, **data)


class SupermanConfig(SkeletonConfigMixin, PretrainedConfig):
    r"""Configuration of :class:`SupermanForConditionalGeneration`.

    Args:
        vlm_config: config of the vision-language model (any ``AutoModelForImageTextToText`` family;
            Qwen2.5-VL in the paper and by default). Its text vocabulary must include the motion tokens.
        vgmt_config: config of the motion tokenizer (:class:`~hf_skeleton.VGMTConfig`); its
            ``num_codes`` gives the ``<skel_k>`` vocabulary and its format the body-part grouping.
        motion_token_offset: token id of ``<skel_0>``; ``<skel_k>`` is ``motion_token_offset + k``, then
            ``<skel_start>`` and ``<skel_end>`` (as :meth:`MotionTextFormatter.add_to_tokenizer` adds them).
        use_maft: add MAFT (pose-aware cross-attention of the ViT tokens onto features sampled at 2D
            detections) before the vision merger.
        maft_num_heads, maft_num_points: deformable sampler heads and points per head (8 x 4 in the paper).
        maft_mlp_ratio: width of MAFT's FFN relative to the ViT width.
        maft_offset_scale: sampling offsets are ``tanh`` bounded to this many feature cells.
        freeze_vgmt: keep the tokenizer frozen while the MLLM trains (the paper's second stage).
        trainable_motion_rows: the K + 2 motion-token rows of the input embeddings and of the LM head are their
            own parameters (``motion_rows``), the rest of both frozen
            (:class:`~hf_skeleton.models.superman.motion_rows.MotionRowsEmbedding`); needs ``motion_token_offset``.
        backbone_weights: where the pretrained tensors a saved folder omits come from (a list of
            ``{"backbone", "source", "target"}``; see :mod:`hf_skeleton.backbone_weights`); ``None``: the folder
            holds every tensor.
        lora: LoRA layers the language model carries (a ``peft.LoraConfig`` dict, kept unmerged so that only the
            adapters ship; the VLM's other weights are then frozen); ``None``: none.
        trainable_vlm_modules: names of VLM submodules that train in full beside LoRA (a composed VLM's new
            ``multi_modal_projector``); ``None``: none.
    """

    model_type = "superman"
    optional_config_fields = ("trainable_motion_rows", "backbone_weights", "lora", "trainable_vlm_modules")
    sub_configs: ClassVar[dict] = {"vlm_config": AutoConfig, "vgmt_config": VGMTConfig}

    def __init__(
        self,
        vlm_config: PretrainedConfig | Mapping[str, Any] | None = None,
        vgmt_config: PretrainedConfig | Mapping[str, Any] | None = None,
        motion_token_offset: int | None = None,
        use_maft: bool = False,
        maft_num_heads: int = 8,
        maft_num_points: int = 4,
        maft_mlp_ratio: float = 4.0,
        maft_offset_scale: float = 2.0,
        freeze_vgmt: bool = True,
        initializer_range: float = 0.02,
        trainable_motion_rows: bool = False,
        backbone_weights: list[dict[str, str]] | None = None,
        lora: Mapping[str, Any] | None = None,
        trainable_vlm_modules: list[str] | None = None,
        **kwargs: Any,
    ):
        self.backbone_weights, self.lora = backbone_fields("SupermanConfig", backbone_weights, lora)
        if trainable_vlm_modules is not None and (isinstance(trainable_vlm_modules, str) or not all(
                isinstance(m, str) and m for m in trainable_vlm_modules)):
            raise SkeletonInputError("SupermanConfig.trainable_vlm_modules", "a list of module names or None",
                                     trainable_vlm_modules)
        self.trainable_vlm_modules = None if trainable_vlm_modules is None else list(trainable_vlm_modules)
        self.trainable_motion_rows = bool(trainable_motion_rows)
        self.vlm_config = _as_config(vlm_config, "qwen2_5_vl")
        self.vgmt_config = _as_config(vgmt_config, "vgmt")
        self.motion_token_offset = None if motion_token_offset is None else int(motion_token_offset)
        self.use_maft = bool(use_maft)
        self.maft_num_heads = int(maft_num_heads)
        self.maft_num_points = int(maft_num_points)
        self.maft_mlp_ratio = float(maft_mlp_ratio)
        self.maft_offset_scale = float(maft_offset_scale)
        self.freeze_vgmt = bool(freeze_vgmt)
        self.initializer_range = float(initializer_range)
        kwargs.setdefault("tie_word_embeddings", bool(getattr(self.vlm_config, "tie_word_embeddings", False)))
        super().__init__(**kwargs)
        self._check()

    # ------------------------------------------------------------------ derived
    @property
    def num_motion_codes(self) -> int:
        return self.vgmt_config.num_codes

    @property
    def motion_token_ids(self) -> range:
        """Ids of ``<skel_0>`` .. ``<skel_{K-1}>``, ``<skel_start>``, ``<skel_end>`` (K + 2 ids)."""
        if self.motion_token_offset is None:
            raise SkeletonInputError(
                "SupermanConfig.motion_token_offset",
                "the id of <skel_0> (set by the processor's tokenizer)",
                None,
            )
        return range(self.motion_token_offset, self.motion_token_offset + self.num_motion_codes + 2)

    def get_text_config(self, decoder=None, encoder=None) -> PretrainedConfig:
        # Generation and embedding resizing read the LLM's text config through this hook.
        vlm = self.__dict__.get("vlm_config")
        if vlm is None:
            return self
        return vlm.get_text_config(decoder=decoder, encoder=encoder)

    # ------------------------------------------------------------------ validation
    def _check(self) -> None:
        def bad(name: str, expected: str, found: Any) -> None:
            raise SkeletonInputError(f"SupermanConfig.{name}", expected, found)

        if not isinstance(self.vgmt_config, VGMTConfig):
            bad("vgmt_config", "a VGMTConfig", type(self.vgmt_config).__name__)
        vocab = getattr(self.get_text_config(decoder=True), "vocab_size", None)
        if self.motion_token_offset is not None:
            if self.motion_token_offset < 0:
                bad("motion_token_offset", "a non-negative token id", self.motion_token_offset)
            if vocab is not None and self.motion_token_offset + self.num_motion_codes + 2 > vocab:
                bad(
                    "motion_token_offset",
                    f"K + 2 = {self.num_motion_codes + 2} motion ids inside the vocabulary of {vocab}",
                    self.motion_token_offset,
                )
        if self.trainable_motion_rows and self.motion_token_offset is None:
            bad("motion_token_offset", "the id of <skel_0> with trainable_motion_rows=True", None)
        for name in ("maft_num_heads", "maft_num_points"):
            if getattr(self, name) < 1:
                bad(name, "a positive integer", getattr(self, name))
        if self.maft_mlp_ratio <= 0 or self.maft_offset_scale <= 0:
            bad(
                "maft_mlp_ratio / maft_offset_scale",
                "positive values",
                (self.maft_mlp_ratio, self.maft_offset_scale),
            )
        if self.use_maft:
            vision = getattr(self.vlm_config, "vision_config", None)
            width = getattr(vision, "hidden_size", None) or getattr(vision, "embed_dim", None)
            if width is None or width % self.maft_num_heads:
                bad("maft_num_heads", f"a divisor of the ViT width ({width})", self.maft_num_heads)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        for key in ("vlm_config", "vgmt_config"):
            if isinstance(out.get(key), PretrainedConfig):
                out[key] = out[key].to_dict()
        return out
