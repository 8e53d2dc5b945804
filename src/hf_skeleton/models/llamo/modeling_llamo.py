"""LLaMo as a LLaVA-style transformers model: motion encoder + video tower + projectors + causal LM.

``LlamoModel`` (the backbone) turns ``motion`` (B, T, J, 3) and ``pixel_values_videos``
(B, F, 3, H, W) into embeddings, fuses them (motion queries cross-attend to video tokens), writes
them into the ``<motion>`` / ``<video>`` placeholder positions of the text embeddings and runs the
language model. ``LlamoForConditionalGeneration`` adds the LM head and generation. The extra inputs
live in the backbone because TRL trains through ``model.base_model(...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from ...backbone_weights import inject_lora
from ...errors import SkeletonInputError
from ...modeling_utils import SkeletonModelMixin
from ..kv_cache import CACHE_KWARG, output_cache, take_cache
from ..lm_head import SkeletonLMHeadMixin
from .configuration_llamo import LlamoConfig
from .motion_encoder import LlamoMotionEncoder


@dataclass
class LlamoModelOutputWithPast(BaseModelOutputWithPast):
    """Backbone output: transformers' fields (the KV cache under the installed version's name) plus
    ``motion_hidden_states``: (N_real, D) projected (fused) motion tokens (``None`` under ``torch.compile``:
    its shape depends on the data) and
    ``video_hidden_states``: (B, M, D) projected video tokens."""

    motion_hidden_states: torch.FloatTensor | None = None
    video_hidden_states: torch.FloatTensor | None = None


@dataclass
class LlamoCausalLMOutputWithPast(CausalLMOutputWithPast):
    """Head output: ``loss``, ``logits`` (B, L, V), the KV cache, plus the backbone's motion/video states."""

    motion_hidden_states: torch.FloatTensor | None = None
    video_hidden_states: torch.FloatTensor | None = None


class LlamoProjector(nn.Module):
    """Two-layer MLP projector (LLaVA-1.5's ``mlp2x_gelu``): (..., in) -> (..., out)."""

    def __init__(self, in_features: int, out_features: int, act: str):
        super().__init__()
        self.linear_1 = nn.Linear(in_features, out_features)
        self.act = ACT2FN[act]
        self.linear_2 = nn.Linear(out_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(x)))


class LlamoCrossTalker(nn.Module):
    """Video-motion fusion: motion tokens (queries) attend to the clip's video tokens, residual.

    motion: (B, N, D), video: (B, M, D) -> (B, N, D).
    """

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.norm_q = nn.LayerNorm(hidden)
        self.norm_kv = nn.LayerNorm(hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, batch_first=True)

    def forward(self, motion: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(video)
        fused, _ = self.attn(self.norm_q(motion), kv, kv, need_weights=False)
        return motion + fused


class LlamoPreTrainedModel(SkeletonModelMixin, PreTrainedModel):
    config_class = LlamoConfig
    config: LlamoConfig
    base_model_prefix = "model"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = False
    _skip_keys_device_placement = [CACHE_KWARG]

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, LlamoMotionEncoder):
            init.normal_(module.mask_embedding, mean=0.0, std=self.config.initializer_range)


class LlamoModel(LlamoPreTrainedModel):
    """Backbone: encoders, projectors, fusion and the language model without its head."""

    def __init__(self, config: LlamoConfig):
        super().__init__(config)
        hidden = config.text_config.hidden_size
        self.motion_encoder = LlamoMotionEncoder(config)
        self.motion_projector = LlamoProjector(config.motion_hidden_size, hidden, config.projector_hidden_act)
        if config.use_video:
            self.vision_tower = AutoModel.from_config(config.vision_config)
            self.video_projector = LlamoProjector(config.vision_config.hidden_size, hidden,
                                                  config.projector_hidden_act)
            self.fusion = (LlamoCrossTalker(hidden, config.fusion_num_heads)
                           if config.fusion == "cross_attention" else None)
        else:
            self.vision_tower = self.video_projector = self.fusion = None
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()
        inject_lora(self, config.lora)  # after post_init, which would re-initialise lora_B away from zero

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    # ------------------------------------------------------------------ modality features
    def get_motion_features(self, motion: torch.Tensor,
                            motion_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, J, 3) -> projected tokens (B, N, D_llm) and their validity mask (B, N)."""
        out = self.motion_encoder(motion, motion_mask)
        return self.motion_projector(out.features), out.token_mask

    def get_video_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """(B, F, 3, H, W) frames -> projected video tokens (B, F * tokens_per_frame, D_llm)."""
        if self.vision_tower is None:
            raise SkeletonInputError("pixel_values_videos", "no video for a model built with use_video=False",
                                     tuple(pixel_values_videos.shape))
        if pixel_values_videos.ndim != 5 or pixel_values_videos.shape[2] != 3:
            raise SkeletonInputError("pixel_values_videos", "a tensor of shape (B, F, 3, H, W)",
                                     tuple(pixel_values_videos.shape))
        B, Fr = pixel_values_videos.shape[:2]
        if Fr != self.config.num_video_frames:
            raise SkeletonInputError("pixel_values_videos", f"{self.config.num_video_frames} frames per video "
                                     "(config.num_video_frames)", Fr)
        size = self.config.vision_config.image_size
        if tuple(pixel_values_videos.shape[-2:]) != (size, size):
            raise SkeletonInputError("pixel_values_videos", f"frames of {size}x{size} px (vision_config.image_size)",
                                     tuple(pixel_values_videos.shape[-2:]))
        frames = pixel_values_videos.flatten(0, 1).to(self.vision_tower.dtype)
        out = self.vision_tower(pixel_values=frames, output_hidden_states=True, return_dict=True)
        feats = out.hidden_states[self.config.vision_feature_layer]  # (B*F, 1 + P, Dv) CLIP, (B*F, P, Dv) SigLIP/grid
        num_patches = self.config.num_video_patches
        patches = feats[:, -num_patches:]
        if self.config.video_pooling == "cls":
            feats = feats[:, :1] if feats.shape[1] > num_patches else patches.mean(1, keepdim=True)
        elif self.config.video_pooling == "mean":
            feats = patches.mean(1, keepdim=True)
        else:
            feats = patches
        # a bfloat16 tower (a published checkpoint) feeds a projector trained in float32
        feats = feats.to(self.video_projector.linear_1.weight.dtype)
        return self.video_projector(feats.reshape(B, -1, feats.shape[-1]))

    def _placeholder_mask(self, input_ids, inputs_embeds, token_id: int | None, name: str) -> torch.Tensor:
        if token_id is None:
            raise SkeletonInputError(f"config.{name}_token_id", f"the id of the {name} placeholder token "
                                     "(set by LlamoProcessor.build_config / the processor's tokenizer)", None)
        if input_ids is not None:
            return input_ids == token_id
        ref = self.get_input_embeddings()(torch.tensor(token_id, device=inputs_embeds.device))
        return (inputs_embeds == ref).all(-1)

    def _scatter(self, inputs_embeds, input_ids, feats: torch.Tensor, token_id, name: str,
                 count: torch.Tensor | int | None = None) -> torch.Tensor:
        """Put ``feats`` (N, D), in order, at the placeholders; only the first ``count`` (default N) are used.

        The count check reads a tensor value, so it is skipped under ``torch.compile`` (a graph break), as
        transformers' own VLMs do."""
        mask = self._placeholder_mask(input_ids, inputs_embeds, token_id, name)
        if not torch.compiler.is_compiling():
            expected = feats.shape[0] if count is None else int(count)
            if int(mask.sum()) != expected:
                raise SkeletonInputError(f"<{name}> placeholders",
                                         f"as many placeholder tokens as {name} features ({expected}); "
                                         f"build inputs with LlamoProcessor", int(mask.sum()))
        return inputs_embeds.masked_scatter(mask[..., None], feats.to(inputs_embeds.dtype))

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        motion: torch.FloatTensor | None = None,
        motion_mask: torch.Tensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> LlamoModelOutputWithPast:
        """input_ids (B, L) with ``<motion>``/``<video>`` placeholders; motion (B, T, J, 3);
        motion_mask (B, T, J); pixel_values_videos (B, F, 3, H, W)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise SkeletonInputError("input_ids / inputs_embeds", "exactly one of them", None)
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)

        video_feats = motion_out = None
        if pixel_values_videos is not None:
            video_feats = self.get_video_features(pixel_values_videos)
        if motion is not None:
            motion_feats, token_mask = self.get_motion_features(motion, motion_mask)
            if video_feats is not None and self.fusion is not None:
                if video_feats.shape[0] != motion_feats.shape[0]:
                    raise SkeletonInputError("pixel_values_videos", f"one video per motion clip ({motion_feats.shape[0]})",
                                             video_feats.shape[0])
                motion_feats = self.fusion(motion_feats, video_feats)
            # the real tokens first, in clip order, then the padding ones, which masked_scatter never reaches:
            # the same as motion_feats[token_mask] without a data-dependent shape (no graph break)
            first = torch.argsort((~token_mask).flatten().to(torch.uint8), stable=True)
            inputs_embeds = self._scatter(inputs_embeds, input_ids, motion_feats.flatten(0, 1)[first],
                                          self.config.motion_token_id, "motion", count=token_mask.sum())
            if not torch.compiler.is_compiling():
                motion_out = motion_feats[token_mask]
        if video_feats is not None:
            inputs_embeds = self._scatter(inputs_embeds, input_ids, video_feats.flatten(0, 1),
                                          self.config.video_token_id, "video")

        cache = take_cache(kwargs)
        outputs = self.language_model(
            attention_mask=attention_mask, position_ids=position_ids, inputs_embeds=inputs_embeds,
            use_cache=use_cache, **{CACHE_KWARG: cache}, **kwargs)
        return LlamoModelOutputWithPast(
            last_hidden_state=outputs.last_hidden_state, **{CACHE_KWARG: output_cache(outputs)},
            hidden_states=outputs.hidden_states, attentions=outputs.attentions,
            motion_hidden_states=motion_out, video_hidden_states=video_feats)


class LlamoForConditionalGeneration(SkeletonLMHeadMixin, LlamoPreTrainedModel, GenerationMixin):
    """LLaMo with its LM head: motion (+ video) + text -> text."""
    remote_auto_class = "AutoModelForImageTextToText"

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}

    def __init__(self, config: LlamoConfig):
        super().__init__(config)
        self.model = LlamoModel(config)
        # in the language model's dtype: a text_config saved from a bfloat16 checkpoint builds a bfloat16 LLM
        lm_dtype = self.model.get_input_embeddings().weight.dtype
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False,
                                 dtype=lm_dtype)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        motion: torch.FloatTensor | None = None,
        motion_mask: torch.Tensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> LlamoCausalLMOutputWithPast:
        """Inputs as :meth:`LlamoModel.forward`; ``labels`` (B, L) with -100 on ignored positions."""
        cache = take_cache(kwargs)
        outputs = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            **{CACHE_KWARG: cache}, inputs_embeds=inputs_embeds, motion=motion, motion_mask=motion_mask,
            pixel_values_videos=pixel_values_videos, use_cache=use_cache, **kwargs)
        logits, loss = self.lm_logits_and_loss(outputs.last_hidden_state, labels, logits_to_keep, **kwargs)
        return LlamoCausalLMOutputWithPast(
            loss=loss, logits=logits, **{CACHE_KWARG: output_cache(outputs)}, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions, motion_hidden_states=outputs.motion_hidden_states,
            video_hidden_states=outputs.video_hidden_states)

    def prepare_inputs_for_generation(self, input_ids, inputs_embeds=None, attention_mask=None,
                                      motion=None, motion_mask=None, pixel_values_videos=None,
                                      is_first_iteration=False, **kwargs):
        """Motion and video are merged on the prefill step only; later steps reuse the KV cache."""
        model_inputs = super().prepare_inputs_for_generation(
            input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
            is_first_iteration=is_first_iteration, **kwargs)
        if is_first_iteration or not kwargs.get("use_cache", True):
            model_inputs.update(motion=motion, motion_mask=motion_mask, pixel_values_videos=pixel_values_videos)
        return model_inputs
