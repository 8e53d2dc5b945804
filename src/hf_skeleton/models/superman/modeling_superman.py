"""Superman: one VLM that estimates, predicts and in-betweens 3D motion written as VGMT tokens.

``SupermanModel`` is the backbone: the VLM's inner model (vision tower + language model) plus the
optional MAFT block, which it applies to the ViT tokens before the vision merger through a hook on
the merger. Extra inputs (``keypoints_2d`` for MAFT) are handled here, in the backbone, because TRL
trains through ``model.base_model``. ``SupermanForConditionalGeneration`` adds the LM head and holds
the (frozen) VGMT that turns codes into motion and back.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import AutoModel, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

from ...backbone_weights import inject_lora
from ...errors import SkeletonInputError
from ...modeling_utils import SkeletonModelMixin
from ..kv_cache import CACHE_KWARG, output_cache, take_cache
from ..lm_head import SkeletonLMHeadMixin, rope_deltas_of
from ..vgmt.modeling_vgmt import VGMTModel
from .configuration_superman import SupermanConfig
from .maft import MAFT
from .motion_rows import MotionRowsEmbedding, MotionRowsHead
from .motion_text import MotionTextFormatter

# LoRA of a Superman built on a causal LM (from_causal_lm_pretrained): r=8 on the LLM's q/v projections, the
# paper's setting; the name is matched in full against SupermanModel's modules (a plain decoder's vlm.layers.i
# or a VLM's vlm.language_model.layers.i)
SUPERMAN_LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "bias": "none",
                 "target_modules": r"vlm\.(language_model\.)?layers\.\d+\.self_attn\.(q_proj|v_proj)"}


@dataclass
class SupermanModelOutputWithPast(BaseModelOutputWithPast):
    """The VLM's outputs (``last_hidden_state`` (B, L, D), the KV cache, ...) plus ``rope_deltas`` (B, 1),
    the M-RoPE offsets of Qwen-VL families (None for others)."""

    rope_deltas: torch.LongTensor | None = None


@dataclass
class SupermanCausalLMOutputWithPast(CausalLMOutputWithPast):
    """``loss``, ``logits`` (B, L', V), the KV cache and ``rope_deltas`` (B, 1)."""

    rope_deltas: torch.LongTensor | None = None


class SupermanPreTrainedModel(SkeletonModelMixin, PreTrainedModel):
    config_class = SupermanConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _no_split_modules: ClassVar[list[str]] = ["MAFT"]
    input_modalities = ("image", "video", "text")

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, MAFT):  # runs after its children: restores the identity-start init
            module.reset_parameters()
        elif isinstance(module, (MotionRowsEmbedding, MotionRowsHead)):
            init.normal_(module.motion_rows, mean=0.0, std=self.config.initializer_range)

    def freeze_as_configured(self) -> None:
        """Freeze what the config keeps fixed: the VGMT (``freeze_vgmt``), the VLM's own weights under LoRA
        (``lora``: the adapters, motion rows and ``trainable_vlm_modules`` train) and the non-motion rows of the
        input embeddings and head (``trainable_motion_rows``). Runs at build and after ``from_pretrained`` (which gives every parameter it
        loads ``requires_grad=True``); nothing is unfrozen."""
        config = self.config
        kept = tuple(f".{m}." for m in (config.trainable_vlm_modules or ()))
        for name, param in self.named_parameters():
            in_vlm = name.startswith(("vlm.", "model.vlm."))
            if ((config.freeze_vgmt and name.startswith("vgmt."))
                    or (config.lora and in_vlm and "lora_" not in name and not name.endswith(".motion_rows")
                        and not any(m in name for m in kept))):
                param.requires_grad_(False)
        for module in self.modules():
            if isinstance(module, (MotionRowsEmbedding, MotionRowsHead)):
                module.weight.requires_grad_(False)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        loaded = super().from_pretrained(*args, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded).freeze_as_configured()
        return loaded


def _split_merge_blocks(x: torch.Tensor, t: int, h: int, w: int, m: int) -> torch.Tensor:
    """(t*h*w, C) in Qwen's merge-block order (t, h/m, w/m, m, m) -> (t, h, w, C)."""
    return x.view(t, h // m, w // m, m, m, -1).permute(0, 1, 3, 2, 4, 5).reshape(t, h, w, -1)


def _join_merge_blocks(x: torch.Tensor, m: int) -> torch.Tensor:
    """Inverse of :func:`_split_merge_blocks`: (t, h, w, C) -> (t*h*w, C)."""
    t, h, w, C = x.shape
    return x.view(t, h // m, m, w // m, m, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, C)


class SupermanModel(SupermanPreTrainedModel):
    """Backbone: VLM inner model + optional MAFT. Returns ``last_hidden_state`` (B, L, hidden)."""

    def __init__(self, config: SupermanConfig):
        super().__init__(config)
        self.vlm = AutoModel.from_config(config.vlm_config)
        self.maft = None
        self._maft_state: dict[str, Any] | None = None
        if config.use_maft:
            visual = getattr(self.vlm, "visual", None)
            if visual is None or not hasattr(visual, "merger"):
                raise SkeletonInputError(
                    "SupermanConfig.use_maft",
                    "a VLM with a Qwen2-VL / Qwen2.5-VL style vision tower (visual.merger)",
                    config.vlm_config.model_type,
                )
            self.maft = self.build_maft(config)
            visual.merger.register_forward_pre_hook(self._apply_maft)
        if config.trainable_motion_rows:
            ids = config.motion_token_ids
            self.vlm.set_input_embeddings(MotionRowsEmbedding(self.vlm.get_input_embeddings(), ids.start, len(ids)))
        self.post_init()
        inject_lora(self, config.lora)  # after post_init, which would re-initialise lora_B away from zero
        self.freeze_as_configured()

    @staticmethod
    def build_maft(config: SupermanConfig) -> MAFT:
        """A new MAFT for the VLM's vision width and the VGMT's joints (the config's MAFT options)."""
        vision = config.vlm_config.vision_config
        width = getattr(vision, "hidden_size", None) or vision.embed_dim
        return MAFT(width, config.vgmt_config.num_joints, config.maft_num_heads, config.maft_num_points,
                    config.maft_mlp_ratio, config.maft_offset_scale)

    def get_input_embeddings(self) -> nn.Module:
        return self.vlm.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.vlm.set_input_embeddings(value)

    # ------------------------------------------------------------------ MAFT
    def _apply_maft(self, module: nn.Module, args: tuple) -> tuple | None:
        """Forward pre-hook of the vision merger: MAFT on the ViT tokens of the current call."""
        state = self._maft_state
        if state is None:
            return None
        x = args[0]
        visual = self.vlm.visual
        m = visual.spatial_merge_size
        unit = m * m
        window_index = state.get("window_index")
        if window_index is not None:  # Qwen2.5-VL runs its blocks in window order
            x = x.view(-1, unit, x.shape[-1])[torch.argsort(window_index)].reshape(x.shape)
        outs, start = [], 0
        for (t, h, w), kp, km in zip(state["grid_thw"], state["keypoints"], state["mask"]):
            n = t * h * w
            fmap = _split_merge_blocks(x[start : start + n], t, h, w, m)
            outs.append(_join_merge_blocks(self.maft(fmap, kp.to(x.dtype), km), m))
            start += n
        x = torch.cat(outs, 0)
        if window_index is not None:
            x = x.view(-1, unit, x.shape[-1])[window_index].reshape(x.shape)
        return (x,) + tuple(args[1:])

    def _keypoints_per_grid(self, keypoints: torch.Tensor, mask: torch.Tensor | None, grid_thw: torch.Tensor):
        """keypoints (N, T, J, 2) per frame -> per temporal patch (mean over its frames, masked)."""
        N, T, J, _ = keypoints.shape
        if grid_thw.shape[0] != N:
            raise SkeletonInputError("keypoints_2d", f"one row per image/video ({grid_thw.shape[0]})", N)
        if mask is None:
            mask = torch.ones(N, T, J, dtype=torch.bool, device=keypoints.device)
        elif tuple(mask.shape) != (N, T, J):
            raise SkeletonInputError("keypoints_mask", f"shape {(N, T, J)}", tuple(mask.shape))
        kps, masks = [], []
        for i, (t, _, _) in enumerate(grid_thw.tolist()):
            if T % t:
                raise SkeletonInputError(
                    "keypoints_2d", f"a frame count divisible by the {t} temporal patches", T
                )
            k = keypoints[i].view(t, T // t, J, 2)
            mk = mask[i].view(t, T // t, J).to(k.dtype)
            kps.append((k * mk[..., None]).sum(1) / mk.sum(1).clamp_min(1)[..., None])
            masks.append(mk.sum(1) > 0)
        return kps, masks

    @contextmanager
    def _maft_inputs(self, keypoints, mask, grid_thw):
        from transformers.vision_utils import get_vision_window_index

        visual = self.vlm.visual
        kps, masks = self._keypoints_per_grid(keypoints, mask, grid_thw)
        state = {"grid_thw": grid_thw.tolist(), "keypoints": kps, "mask": masks}
        if getattr(visual, "window_size", None) and hasattr(visual, "fullatt_block_indexes"):
            state["window_index"] = get_vision_window_index(
                grid_thw, visual.spatial_merge_size, visual.window_size, visual.patch_size
            )[0]
        self._maft_state = state
        try:
            yield
        finally:
            self._maft_state = None

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        image_grid_thw: torch.LongTensor | None = None,
        video_grid_thw: torch.LongTensor | None = None,
        mm_token_type_ids: torch.IntTensor | None = None,
        keypoints_2d: torch.Tensor | None = None,
        keypoints_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> SupermanModelOutputWithPast:
        """Args as the VLM's, plus for MAFT ``keypoints_2d`` (N, T, J, 2): 2D detections (x, y) in [0, 1]
        of the frame for each of the N videos (or images, T = 1) and ``keypoints_mask`` (N, T, J)."""
        cache = take_cache(kwargs)
        mm = None
        if (
            self.maft is not None
            and keypoints_2d is not None
            and (pixel_values is not None or pixel_values_videos is not None)
        ):
            if pixel_values is not None and pixel_values_videos is not None:
                raise SkeletonInputError("keypoints_2d", "either images or videos in one MAFT batch", "both")
            if keypoints_2d.ndim != 4 or keypoints_2d.shape[-1] != 2:
                raise SkeletonInputError("keypoints_2d", "a tensor (N, T, J, 2)", tuple(keypoints_2d.shape))
            video = pixel_values_videos is not None
            grid = video_grid_thw if video else image_grid_thw
            with self._maft_inputs(keypoints_2d, keypoints_mask, grid):
                if video:
                    feats = self.vlm.get_video_features(pixel_values_videos, grid, return_dict=True)
                else:
                    feats = self.vlm.get_image_features(pixel_values, grid, return_dict=True)
            mm = {"video" if video else "image": feats}
            pixel_values = pixel_values_videos = None
        vlm_kwargs = dict(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            pixel_values=pixel_values,
            **{CACHE_KWARG: cache},
            **kwargs,
        )
        if hasattr(self.vlm, "get_rope_index"):  # Qwen-VL families; a LLaVA would hand these to its tower
            vlm_kwargs.update(pixel_values_videos=pixel_values_videos, image_grid_thw=image_grid_thw,
                              video_grid_thw=video_grid_thw, mm_token_type_ids=mm_token_type_ids)
        elif pixel_values_videos is not None:
            raise SkeletonInputError("pixel_values_videos", "videos as per-frame pixel_values for a "
                                     f"{self.config.vlm_config.model_type} VLM (the processor's frame_tokens)",
                                     tuple(pixel_values_videos.shape))
        if mm is not None:
            vlm_kwargs["mm_encoder_outputs"] = mm
        out = self.vlm(**vlm_kwargs)
        return SupermanModelOutputWithPast(
            last_hidden_state=out.last_hidden_state, **{CACHE_KWARG: output_cache(out)},
            hidden_states=out.hidden_states, attentions=out.attentions,
            rope_deltas=rope_deltas_of(out, self.vlm))


class SupermanForConditionalGeneration(SkeletonLMHeadMixin, SupermanPreTrainedModel, GenerationMixin):
    """Superman with its LM head and motion tokenizer.

    ``forward`` takes the processor's output (``input_ids``, ``attention_mask``, optional ``pixel_values``
    / ``pixel_values_videos`` with their grids, ``keypoints_2d`` for MAFT, ``labels``) and returns the
    causal-LM loss and logits. :meth:`codes_to_motion` / :meth:`motion_to_codes` go through the VGMT.
    """
    remote_auto_class = "AutoModelForImageTextToText"

    # a VLM's (Qwen2.5-VL); __init__ names the embeddings of the VLM it builds (a plain decoder's vlm.embed_tokens)
    _tied_weights_keys: ClassVar[dict[str, str]] = {
        "lm_head.weight": "model.vlm.language_model.embed_tokens.weight"
    }
    accepts_loss_kwargs = False

    def __init__(self, config: SupermanConfig):
        super().__init__(config)
        self.model = SupermanModel(config)
        text = config.get_text_config(decoder=True)
        # in the VLM's dtype: a vlm_config saved from a bfloat16 checkpoint builds a bfloat16 VLM
        embeddings = self.model.get_input_embeddings()
        self.lm_head = nn.Linear(text.hidden_size, text.vocab_size, bias=False, dtype=embeddings.weight.dtype)
        if config.trainable_motion_rows:
            self.lm_head = MotionRowsHead(self.lm_head, embeddings.start, embeddings.count)
        self.vgmt = VGMTModel(config.vgmt_config)
        # tie where the LLM ties: lm_head to the embeddings wherever the VLM keeps them
        where = "model." + next(n for n, m in self.model.named_modules() if m is embeddings)
        self._tied_weights_keys = {"lm_head.weight": f"{where}.weight"}
        if config.trainable_motion_rows:
            self._tied_weights_keys["lm_head.motion_rows"] = f"{where}.motion_rows"
        self.post_init()
        self.freeze_as_configured()

    def get_decoder(self) -> nn.Module:
        return self.model

    @property
    def motion_formatter(self) -> MotionTextFormatter:
        return MotionTextFormatter.from_vgmt_config(self.config.vgmt_config)

    @classmethod
    def from_backbone_pretrained(cls, vlm_name_or_path: str, vgmt: Any, *, use_maft: bool = False,
                                 mean_resizing: bool = True, **from_pretrained_kwargs: Any):
        """Build Superman around a pretrained Qwen2-VL / Qwen2.5-VL checkpoint (a Hub id or a local folder,
        as the paper starts from Qwen2.5-VL) and a motion tokenizer; returns ``(model, processor)``.

        Args:
            vlm_name_or_path: the VLM checkpoint; its tokenizer gains the VGMT's motion tokens and the
                embeddings grow for them (never shrink: see :meth:`resize_for_motion_tokens`).
            vgmt: a trained :class:`~hf_skeleton.VGMTModel`, a folder holding one, or a ``VGMTConfig``
                (a fresh tokenizer to train first).
            use_maft: add the MAFT module to the vision tower (initialised as the identity).
            mean_resizing: new embedding rows drawn around the mean embedding (transformers' default).
            from_pretrained_kwargs: go to ``AutoModelForImageTextToText.from_pretrained`` (``dtype``, ...).

        The VLM's weights are adopted, not copied: the model is built on the meta device and the loaded
        tensors are assigned, so no second, randomly initialised VLM is allocated.
        """
        from .pretrained_superman import superman_from_vlm

        return superman_from_vlm(cls, vlm_name_or_path, vgmt, use_maft=use_maft, mean_resizing=mean_resizing,
                                 **from_pretrained_kwargs)

    @classmethod
    def from_causal_lm_pretrained(cls, lm_name_or_path: str, vgmt: Any, processor: Any = None, *,
                                  lora: dict[str, Any] | None = SUPERMAN_LORA, dtype: torch.dtype = torch.float32,
                                  seed: int = 0):
        """Build Superman on a pretrained causal LM (a :func:`~hf_skeleton.backbones.backbone_path` name such as
        ``smollm2-135m-instruct``, a folder or a Hub id: a Llama-style decoder whose weights are ``model.*`` and
        ``lm_head.*``) and a motion tokenizer; returns ``(model, processor)``.

        What trains, and all a saved folder holds besides the VGMT: LoRA on the LLM's q/v projections (``lora``,
        kept unmerged: ``config.lora``; ``None``: none) and the K + 2 motion-token rows of the input embeddings
        and of the LM head (``config.trainable_motion_rows``: one set when the LLM ties its head, two otherwise),
        started like a typical row of the LLM's embeddings (:func:`typical_rows`, ``seed``). Every other LLM
        weight stays frozen at the LLM's, referenced by ``config.backbone_weights`` and read back from the LLM
        at load (a damaged or missing LLM: :class:`CheckpointError`); the head is tied where the LLM ties it.

        Args:
            vgmt: a trained :class:`~hf_skeleton.VGMTModel`, a folder holding one, or a ``VGMTConfig``.
            processor: the SupermanProcessor of this LLM and VGMT; ``None`` builds it from the LLM's tokenizer
                (:func:`~hf_skeleton.models.superman.processing_superman.causal_lm_superman_processor`).
            dtype: of the built model (float32 for CPU training), whatever dtype the checkpoint is in.

        Raises:
            SkeletonInputError: a checkpoint that is not a causal LM, a tokenizer without a chat template.
            CheckpointError: an LLM name that resolves to nothing, or a checkpoint lacking an LLM tensor.
        """
        from .pretrained_superman import superman_from_causal_lm

        return superman_from_causal_lm(cls, lm_name_or_path, vgmt, processor, lora=lora, dtype=dtype, seed=seed)

    @classmethod
    def from_backbones(cls, vision: str, text: str, vgmt: Any, processor: Any = None, *, token_grid: int = 2,
                       lora: dict[str, Any] | None = SUPERMAN_LORA, dtype: torch.dtype = torch.float32, seed: int = 0):
        """Superman on a VLM composed of a pretrained CNN and a causal LM (``hs.backbone_path`` names such as
        ``efficientnet-lite0`` and ``smollm2-135m-instruct``: a LLaVA, as SkeletonLLM composes them), so that the
        ``estimate`` task reads video: each frame (3, 224, 224) -> ``token_grid`` x ``token_grid`` tokens through
        a new projector. Trains as :meth:`from_causal_lm_pretrained` does, plus the projector in full; the tower
        stays frozen and, like the LLM, is referenced, not saved. Returns ``(model, processor)``."""
        from .pretrained_superman import superman_from_causal_lm

        return superman_from_causal_lm(cls, text, vgmt, processor, lora=lora, dtype=dtype, seed=seed, vision=vision,
                                       token_grid=token_grid)

    def resize_for_motion_tokens(self, tokenizer, mean_resizing: bool = True) -> int:
        """Make room for the motion tokens of ``tokenizer`` (``build_superman_processor`` added them) and set
        ``config.motion_token_offset`` to the id of ``<skel_0>``; returns the embedding rows.

        The embeddings grow to ``len(tokenizer)`` when the tokenizer is longer and never shrink: published
        vocabularies are padded (Qwen2.5-VL-7B: 152,064 rows for 151,665 tokens), so a codebook of up to
        397 codes fits in the padding and ``resize_token_embeddings(len(tokenizer))`` would drop rows.
        ``mean_resizing``: new rows drawn around the mean embedding (transformers' default; on CPU its
        covariance over 152k x 3584 rows takes tens of seconds)."""
        offset = self.motion_formatter.token_ids(tokenizer)["codes"][0]
        rows = self.get_input_embeddings().num_embeddings
        if self.config.trainable_motion_rows and (len(tokenizer) > rows or offset != self.config.motion_token_offset):
            raise SkeletonInputError("tokenizer", f"<skel_0> at id {self.config.motion_token_offset} and at most {rows} "
                                     "tokens (the motion rows are fixed at build)", (offset, len(tokenizer)))
        if len(tokenizer) > rows:
            self.resize_token_embeddings(len(tokenizer), mean_resizing=mean_resizing)
            rows = len(tokenizer)
        self.config.motion_token_offset = int(offset)
        self.config._check()
        return rows

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        image_grid_thw: torch.LongTensor | None = None,
        video_grid_thw: torch.LongTensor | None = None,
        mm_token_type_ids: torch.IntTensor | None = None,
        keypoints_2d: torch.Tensor | None = None,
        keypoints_mask: torch.Tensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> SupermanCausalLMOutputWithPast:
        """labels (B, L): next-token targets, -100 where ignored (prompt, padding, vision placeholders).
        The KV cache comes as ``cache`` or ``past_key_values`` (see ``models.kv_cache``)."""
        cache = take_cache(kwargs)
        outputs = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **{CACHE_KWARG: cache},
            inputs_embeds=inputs_embeds, use_cache=use_cache, pixel_values=pixel_values,
            pixel_values_videos=pixel_values_videos, image_grid_thw=image_grid_thw, video_grid_thw=video_grid_thw,
            mm_token_type_ids=mm_token_type_ids, keypoints_2d=keypoints_2d, keypoints_mask=keypoints_mask, **kwargs)
        if labels is not None and input_ids is not None and labels.shape != input_ids.shape:
            raise SkeletonInputError("labels", f"shape {tuple(input_ids.shape)} like input_ids", tuple(labels.shape))
        logits, loss = self.lm_logits_and_loss(outputs.last_hidden_state, labels, logits_to_keep, **kwargs)
        return SupermanCausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            **{CACHE_KWARG: output_cache(outputs)},
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            rope_deltas=outputs.rope_deltas,
        )

    # ------------------------------------------------------------------ generation
    def prepare_inputs_for_generation(self, input_ids, is_first_iteration: bool | None = False, **kwargs):
        inputs = super().prepare_inputs_for_generation(
            input_ids, is_first_iteration=is_first_iteration, **kwargs
        )
        if not is_first_iteration and kwargs.get("use_cache", True):
            inputs.pop("keypoints_2d", None)
            inputs.pop("keypoints_mask", None)
        return inputs

    def _prepare_position_ids_for_generation(self, inputs_tensor, model_kwargs):
        # Qwen-VL families need 3D (M-RoPE) positions: text row + (t, h, w) rows, from the VLM's rope index.
        text_positions = super()._prepare_position_ids_for_generation(inputs_tensor, model_kwargs)
        vlm = self.model.vlm
        if not hasattr(vlm, "get_rope_index"):
            return text_positions
        cache = model_kwargs.get(CACHE_KWARG)
        past = cache.get_seq_length() if cache is not None else 0
        mm_types = model_kwargs.get("mm_token_type_ids")
        new_vision = mm_types is not None and bool(mm_types[:, past:].any())
        if past and getattr(vlm, "rope_deltas", None) is not None and not new_vision:
            return text_positions[None] + vlm.rope_deltas
        ids = model_kwargs.get("input_ids")
        ids = ids if ids is not None and ids.shape[1] > 0 else inputs_tensor
        has_grid = (
            model_kwargs.get("image_grid_thw") is not None or model_kwargs.get("video_grid_thw") is not None
        )
        if ids.ndim == 2 and not ids.is_floating_point() and mm_types is not None and has_grid:
            keys = ("image_grid_thw", "video_grid_thw", "second_per_grid_ts", "attention_mask")
            vision_positions, deltas = vlm.get_rope_index(
                ids, mm_token_type_ids=mm_types, **{k: model_kwargs.get(k) for k in keys}
            )
            vlm.rope_deltas = deltas
        else:
            vision_positions = text_positions[None].expand(3, -1, -1)
            vlm.rope_deltas = torch.zeros(ids.shape[0], 1, dtype=torch.long, device=ids.device)
        return torch.cat([text_positions[None], vision_positions], 0)

    # ------------------------------------------------------------------ motion <-> codes
    def codes_to_motion(self, codes: torch.Tensor, num_frames: int | None = None) -> torch.Tensor:
        """codes (B, S, N) -> normalised motion (B, S * r, J, 3) through the VGMT decoder."""
        with torch.no_grad():
            return self.vgmt.decode(codes.to(self.vgmt.device), num_frames=num_frames)

    def motion_to_codes(
        self,
        skeletons: torch.Tensor,
        skeleton_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Normalised motion (B, T, J, 3) in [-1, 1] -> codes (B, ceil(T / r), N).

        Without ``pixel_values`` the skeletal distance alone picks the codes (no RGB needed)."""
        return self.vgmt.encode(
            skeletons.to(self.vgmt.device), pixel_values=pixel_values, skeleton_mask=skeleton_mask
        )
