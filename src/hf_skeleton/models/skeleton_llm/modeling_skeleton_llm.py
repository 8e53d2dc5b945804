"""SkeletonLLM: DrAction renders skeletons into images that any Hugging Face VLM reads.

The backbone (:class:`SkeletonLLMModel`) holds the renderer, a differentiable copy of the VLM's
image preprocessing and the VLM's own inner model (``Qwen2_5_VLModel``, ``InternVLModel``,
``LlavaModel``...). It turns ``skeletons`` into the VLM's ``pixel_values`` (+ ``image_grid_thw``)
and hands everything to the VLM's forward, so placeholder merging and Qwen's M-RoPE positions come
from transformers' own code. The language-model loss therefore back-propagates into the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn
from transformers import AutoModel, AutoModelForImageTextToText, GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from ...backbone_weights import inject_lora
from ...errors import SkeletonInputError
from ...modeling_utils import SkeletonModelMixin
from ..kv_cache import CACHE_KWARG, output_cache, take_cache
from ..lm_head import SkeletonLMHeadMixin, rope_deltas_of
from ..draction.modeling_draction import DrActionModel
from .configuration_skeleton_llm import SkeletonLLMConfig
from .image_adapters import ImageAdapter, ImageAdapterConfig


GROUPS = ("renderer", "projector", "vision", "language")


@dataclass
class SkeletonLLMModelOutputWithPast(BaseModelOutputWithPast):
    """The VLM's outputs (``last_hidden_state`` (B, L, D), the KV cache, ...) plus
    ``rendered_frames``: (N, T', 3, H, W) DrAction frames in [0, 1] of the N clips read in this call
    (None on cached steps), differentiable w.r.t. the renderer; ``rope_deltas``: (B, 1) Qwen2-VL M-RoPE
    offsets (None for other families)."""

    rendered_frames: torch.FloatTensor | None = None
    rope_deltas: torch.LongTensor | None = None


@dataclass
class SkeletonLLMCausalLMOutputWithPast(CausalLMOutputWithPast):
    """``loss``, ``logits`` (B, L', V), the KV cache, plus the backbone's ``rendered_frames`` and
    ``rope_deltas`` (see :class:`SkeletonLLMModelOutputWithPast`)."""

    rendered_frames: torch.FloatTensor | None = None
    rope_deltas: torch.LongTensor | None = None
_PROJECTOR_KEYS = (".multi_modal_projector.", ".visual.merger.", ".mlp1.")
_VISION_KEYS = (".visual.", ".vision_tower.", ".vision_model.")


def _group_of(name: str) -> str:
    key = f".{name}"
    if key.startswith(".model.renderer."):
        return "renderer"
    if any(k in key for k in _PROJECTOR_KEYS):
        return "projector"
    if any(k in key for k in _VISION_KEYS):
        return "vision"
    return "language"


class SkeletonLLMPreTrainedModel(SkeletonModelMixin, PreTrainedModel):
    config_class = SkeletonLLMConfig
    config: SkeletonLLMConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _can_compile_fullgraph = False
    _no_split_modules = ["DrActionModel"]

    def _init_weights(self, module):
        # each sub-model (renderer, VLM) initialises its own modules with its own rules
        owners = self.__dict__.get("_init_owners")
        if owners is None:
            backbone = self.model if isinstance(self, SkeletonLLMForConditionalGeneration) else self
            owners = {id(m): sub for sub in (backbone.vlm, backbone.renderer) if isinstance(sub, PreTrainedModel)
                      for m in sub.modules()}
            self.__dict__["_init_owners"] = owners
        owner = owners.get(id(module))
        if owner is not None:
            owner._init_weights(module)
        else:
            super()._init_weights(module)


class SkeletonLLMModel(SkeletonLLMPreTrainedModel):
    """Renderer + image adapter + the VLM's inner model.

    Args:
        config: :class:`SkeletonLLMConfig`.
        vlm: an existing inner VLM model to use instead of a freshly initialised one (used by
            :meth:`SkeletonLLMForConditionalGeneration.from_backbone_pretrained`).
    """

    def __init__(self, config: SkeletonLLMConfig, vlm: nn.Module | None = None):
        super().__init__(config)
        self.renderer = DrActionModel(config.draction_config)
        self.adapter = ImageAdapter(config.adapter_config())
        self.vlm = vlm if vlm is not None else AutoModel.from_config(config.vlm_config)
        self.post_init()
        inject_lora(self, config.lora)  # after post_init, which would re-initialise lora_B away from zero

    def get_input_embeddings(self):
        return self.vlm.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.vlm.set_input_embeddings(value)

    @property
    def language_model(self):
        return self.vlm.language_model

    # ------------------------------------------------------------------ vision inputs
    def render(self, skeletons: torch.Tensor, skeleton_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, P, J, 3) skeletons -> (B, T', 3, H, W) frames in [0, 1]."""
        fmt = self.config.draction_config
        if not torch.is_tensor(skeletons) or skeletons.ndim != 5 or skeletons.shape[-1] != 3:
            raise SkeletonInputError("skeletons", "a float tensor (B, T, P, J, 3)",
                                     tuple(skeletons.shape) if torch.is_tensor(skeletons) else type(skeletons))
        if skeletons.shape[3] != fmt.num_joints:
            raise SkeletonInputError("skeletons", f"{fmt.num_joints} joints (format {fmt.skeleton_format.name!r})",
                                     skeletons.shape[3])
        return self.renderer(skeletons=skeletons, skeleton_mask=skeleton_mask).images

    def vision_inputs(self, skeletons: torch.Tensor, skeleton_mask: torch.Tensor | None = None) -> dict:
        """Rendered, preprocessed inputs of the VLM (``pixel_values`` [+ ``image_grid_thw``] or the
        video equivalents), differentiable with respect to the renderer."""
        return self.frames_to_vision_inputs(self.render(skeletons, skeleton_mask))

    def frames_to_vision_inputs(self, images: torch.Tensor) -> dict:
        """(N, T', 3, H, W) rendered frames -> the VLM's preprocessed vision inputs."""
        if self.config.frames_as == "video":
            return self.adapter(images, as_video=True)
        return self.adapter(images.flatten(0, 1))

    def vision_grids(self, num_clips: int, device=None) -> dict:
        """``image_grid_thw`` / ``video_grid_thw`` of ``num_clips`` clips without rendering (Qwen2-VL)."""
        side = self.config.image_size
        gh, gw = self.adapter.grid(side, side)
        if self.config.frames_as == "video":
            t = -(-self.config.num_frames // self.adapter.config.temporal_patch_size)
            return {"video_grid_thw": torch.tensor([[t, gh, gw]] * num_clips, dtype=torch.long, device=device)}
        n = num_clips * self.config.num_frames
        return {"image_grid_thw": torch.tensor([[1, gh, gw]] * n, dtype=torch.long, device=device)}

    def mm_token_type_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """0 text, 1 image, 2 video per token (what Qwen2-VL's processor returns)."""
        types = torch.zeros_like(input_ids, dtype=torch.int)
        types[input_ids == self.config.image_token_id] = 1
        if self.config.video_token_id is not None:
            types[input_ids == self.config.video_token_id] = 2
        return types

    def rope_position_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Qwen2-VL M-RoPE (3, B, L) positions and (B, 1) deltas for a prompt holding placeholders."""
        num_clips = self._count_clips(input_ids)
        grids = self.vision_grids(num_clips, input_ids.device) if num_clips else {}
        return self.vlm.get_rope_index(input_ids, mm_token_type_ids=self.mm_token_type_ids(input_ids),
                                       attention_mask=attention_mask, **grids)

    def _count_clips(self, input_ids: torch.Tensor) -> int:
        n_tokens = int((input_ids == self._visual_token_id()).sum())
        per_clip = self.config.num_visual_tokens()
        if n_tokens % per_clip:
            raise SkeletonInputError("input_ids", f"a multiple of {per_clip} visual placeholder tokens per clip "
                                     "(expand prompts with the SkeletonLLMProcessor)", n_tokens)
        return n_tokens // per_clip

    def _visual_token_id(self) -> int:
        return self.config.video_token_id if self.config.frames_as == "video" else self.config.image_token_id

    # ------------------------------------------------------------------ forward
    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.LongTensor | None = None,
                inputs_embeds: torch.Tensor | None = None, skeletons: torch.Tensor | None = None,
                skeleton_mask: torch.Tensor | None = None, use_cache: bool | None = None,
                **kwargs: Any) -> SkeletonLLMModelOutputWithPast:
        r"""
        Args:
            input_ids: (B, L) with each clip's placeholder expanded to the VLM's visual tokens.
            skeletons: (N, T, P, J, 3) float, one clip per placeholder, in order of appearance.
            skeleton_mask: (N, T, P, J) bool, True where a joint is observed (padding frames False).
            cache / past_key_values: the KV cache, under either name (see ``models.kv_cache``).
        Returns:
            :class:`SkeletonLLMModelOutputWithPast`: ``last_hidden_state`` (B, L, D), the KV cache and the
            ``rendered_frames`` (N, T', 3, H, W).
        """
        vision: dict[str, Any] = {}
        frames = None
        if skeletons is not None:
            if skeleton_mask is not None and tuple(skeleton_mask.shape) != tuple(skeletons.shape[:-1]):
                raise SkeletonInputError("skeleton_mask", f"shape {tuple(skeletons.shape[:-1])}",
                                         tuple(skeleton_mask.shape))
            if input_ids is not None:
                n = self._count_clips(input_ids)
                if n != skeletons.shape[0]:
                    raise SkeletonInputError("skeletons", f"{n} clips (one per placeholder in input_ids)",
                                             skeletons.shape[0])
            frames = self.render(skeletons, skeleton_mask)
            vision = self.frames_to_vision_inputs(frames)
        cache = take_cache(kwargs)
        if self.config.family == "qwen2_vl" and input_ids is not None:
            past_len = 0 if cache is None else cache.get_seq_length()
            if position_ids is None and past_len == 0:
                position_ids, deltas = self.rope_position_ids(input_ids, attention_mask)
                self.vlm.rope_deltas = deltas
        out = self.vlm(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                       inputs_embeds=inputs_embeds, use_cache=use_cache, **{CACHE_KWARG: cache}, **vision, **kwargs)
        return SkeletonLLMModelOutputWithPast(
            last_hidden_state=out.last_hidden_state, **{CACHE_KWARG: output_cache(out)},
            hidden_states=out.hidden_states, attentions=out.attentions, rendered_frames=frames,
            rope_deltas=rope_deltas_of(out, self.vlm))


class SkeletonLLMForConditionalGeneration(SkeletonLMHeadMixin, SkeletonLLMPreTrainedModel, GenerationMixin):
    """SkeletonLLM with a language-modelling head: ``labels`` give the causal-LM loss."""
    remote_auto_class = "AutoModelForImageTextToText"

    _tied_weights_keys = {"lm_head.weight": "model.vlm.language_model.embed_tokens.weight"}
    accepts_loss_kwargs = False

    def __init__(self, config: SkeletonLLMConfig, vlm: nn.Module | None = None, lm_head: nn.Module | None = None):
        super().__init__(config)
        self.model = SkeletonLLMModel(config, vlm=vlm)
        text = config.text_config
        self.lm_head = lm_head if lm_head is not None else nn.Linear(text.hidden_size, text.vocab_size, bias=False)
        self.post_init()

    @property
    def renderer(self) -> DrActionModel:
        return self.model.renderer

    # ------------------------------------------------------------------ parameter groups (training stages)
    def parameter_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Named parameters by role: ``renderer`` (DrAction), ``projector`` (the VLM's vision-to-text
        projector: ``multi_modal_projector`` or Qwen's ``visual.merger``), ``vision`` (the rest of
        the vision tower), ``language`` (the language model and ``lm_head``)."""
        groups: dict[str, list[tuple[str, nn.Parameter]]] = {k: [] for k in GROUPS}
        for name, param in self.named_parameters():
            groups[_group_of(name)].append((name, param))
        return groups

    def set_trainable(self, groups: Sequence[str]) -> dict[str, int]:
        """Train exactly the parameter ``groups`` (see :meth:`parameter_groups`); freeze the rest.
        LoRA adapters added later by PEFT are trainable on their own. Returns counts per group."""
        unknown = set(groups) - set(GROUPS)
        if unknown:
            raise SkeletonInputError("groups", f"names from {GROUPS}", sorted(unknown))
        counts = {}
        for group, params in self.parameter_groups().items():
            for _, p in params:
                p.requires_grad_(group in groups)
            counts[group] = sum(p.numel() for _, p in params)
        return counts

    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.LongTensor | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.LongTensor | None = None,
                skeletons: torch.Tensor | None = None, skeleton_mask: torch.Tensor | None = None,
                use_cache: bool | None = None, logits_to_keep: int | torch.Tensor = 0,
                **kwargs: Any) -> SkeletonLLMCausalLMOutputWithPast:
        r"""
        Args:
            skeletons: (N, T, P, J, 3); skeleton_mask: (N, T, P, J) (see :class:`SkeletonLLMModel`).
            labels: (B, L) token ids with -100 where no loss is taken.
        Returns:
            :class:`SkeletonLLMCausalLMOutputWithPast`: ``loss`` (when labels are given), ``logits``
            (B, L, V), the KV cache and the ``rendered_frames`` (N, T', 3, H, W).
        """
        cache = take_cache(kwargs)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         inputs_embeds=inputs_embeds, skeletons=skeletons, **{CACHE_KWARG: cache},
                         skeleton_mask=skeleton_mask, use_cache=use_cache, **kwargs)
        logits, loss = self.lm_logits_and_loss(out.last_hidden_state, labels, logits_to_keep, **kwargs)
        return SkeletonLLMCausalLMOutputWithPast(
            loss=loss, logits=logits, **{CACHE_KWARG: output_cache(out)}, hidden_states=out.hidden_states,
            attentions=out.attentions, rendered_frames=out.rendered_frames, rope_deltas=out.rope_deltas)

    # ------------------------------------------------------------------ generation
    def prepare_inputs_for_generation(self, input_ids, skeletons=None, skeleton_mask=None,
                                      is_first_iteration=False, **kwargs):
        inputs = super().prepare_inputs_for_generation(input_ids, is_first_iteration=is_first_iteration, **kwargs)
        # As transformers' VLMs decide it: the clips are rendered on the prefill step (or on every step
        # without a cache); later steps read the KV cache.
        if is_first_iteration or not kwargs.get("use_cache", True):
            inputs["skeletons"], inputs["skeleton_mask"] = skeletons, skeleton_mask
        return inputs

    def _prepare_position_ids_for_generation(self, inputs_tensor, model_kwargs):
        text_positions = super()._prepare_position_ids_for_generation(inputs_tensor, model_kwargs)
        if self.config.family != "qwen2_vl":
            return text_positions
        input_ids = model_kwargs.get("input_ids", inputs_tensor)
        if input_ids is None or input_ids.ndim != 2 or input_ids.dtype not in (torch.int, torch.long):
            return text_positions
        # Qwen2-VL generation carries [text row; 3 M-RoPE rows] and extends all by +1 per step
        vision_positions, deltas = self.model.rope_position_ids(input_ids, model_kwargs.get("attention_mask"))
        self.model.vlm.rope_deltas = deltas
        return torch.cat([text_positions[None], vision_positions], dim=0)

    # ------------------------------------------------------------------ building around a checkpoint
    @classmethod
    def from_backbone_pretrained(cls, vlm_name_or_path: str, draction_config: Any = None, *,
                                 frames_as: str = "images", skeleton_token: str = "<skeleton>",
                                 image_adapter: ImageAdapterConfig | None = None,
                                 **from_pretrained_kwargs: Any) -> "SkeletonLLMForConditionalGeneration":
        """Build SkeletonLLM around a pretrained VLM (e.g. ``Qwen/Qwen2.5-VL-7B-Instruct``, an
        InternVL-hf or LLaVA-hf checkpoint, or a local folder) and a fresh DrAction renderer.

        The image adapter takes the checkpoint's own preprocessor values when the folder has a
        ``preprocessor_config.json``; otherwise the family defaults (or ``image_adapter``).

        ``from_pretrained_kwargs`` go to ``AutoModelForImageTextToText.from_pretrained`` (``dtype``,
        ``device_map``, ...). For the Qwen2-VL family pass ``fusion_config={"patch_embeddings": True}``: the
        vision patch embedding (a Conv3d whose kernel equals its stride) then runs as the equivalent Linear,
        the same outputs 50-100x faster on CPU (where it otherwise dominates a 12-frame step) and on GPUs
        whose cuDNN has slow bfloat16 Conv3d kernels; ``save_pretrained`` still writes the Conv3d layout.
        """
        vlm = AutoModelForImageTextToText.from_pretrained(vlm_name_or_path, **from_pretrained_kwargs)
        if image_adapter is None:
            image_adapter = _adapter_from_checkpoint(vlm_name_or_path)
        config = SkeletonLLMConfig(draction_config=draction_config, vlm_config=vlm.config, frames_as=frames_as,
                                   skeleton_token=skeleton_token, image_adapter=image_adapter)
        model = cls(config, vlm=vlm.model, lm_head=vlm.lm_head)
        # the renderer stays in float32 (a few thousand parameters); the VLMs cast pixel_values to their dtype
        model.model.renderer.to(device=vlm.device, dtype=torch.float32)
        return model

    @classmethod
    def from_backbones(cls, vision: str, text: str, draction_config: Any = None, *, token_grid: int = 2,
                       skeleton_token: str = "<skeleton>", image_token: str = "<image>",
                       image_adapter: ImageAdapterConfig | None = None, image_size: int | None = None,
                       frozen_eval: bool = True, dtype: torch.dtype = torch.float32):
        """Build SkeletonLLM on a VLM composed from a pretrained vision backbone and a pretrained
        language model (LLaVA layout: tower -> pooled tokens -> ``multi_modal_projector`` -> LLM), e.g.
        ``from_backbones(hs.backbone_path("efficientnet-lite0"), hs.backbone_path("smollm2-135m-instruct"))``.

        Args:
            vision: folder (or id) of an EfficientNet-Lite checkpoint; its ``preprocessor_config.json``
                sets the image adapter (224 px, mean = std = 0.5) unless ``image_adapter`` is given.
            text: folder (or id) of a causal LM with its tokenizer (chat template kept); ``skeleton_token``
                and ``image_token`` are added and the embeddings resized.
            draction_config: the renderer; default ``DrActionConfig(num_frames=8, image_size=<adapter size>)``.
            image_size: the side the tower reads (default: the processor's, 224); e.g. 112 for a 4x cheaper
                tower on CPU (normalised the same way, no longer what the backbone's processor gives).
            token_grid: each frame becomes ``token_grid ** 2`` visual tokens (the final map pooled).
            frozen_eval: the tower's frozen BatchNorm layers keep their ImageNet statistics in training.

        Returns:
            ``(model, processor)``: the model with the pretrained tower and language model (projector new)
            and its :class:`SkeletonLLMProcessor`.
        """
        from .pretrained_vlm import build_from_backbones

        return build_from_backbones(cls, vision, text, draction_config, token_grid=token_grid,
                                    skeleton_token=skeleton_token, image_token=image_token,
                                    image_adapter=image_adapter, image_size=image_size, frozen_eval=frozen_eval,
                                    dtype=dtype)


def _adapter_from_checkpoint(path: str) -> ImageAdapterConfig | None:
    try:
        from transformers import AutoImageProcessor

        processor = AutoImageProcessor.from_pretrained(path)
    except (OSError, ValueError, KeyError):
        return None
    try:
        return ImageAdapterConfig.from_image_processor(processor)
    except SkeletonInputError:
        return None
