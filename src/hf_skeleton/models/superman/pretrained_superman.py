"""Building Superman on pretrained weights (the bodies of
:meth:`~hf_skeleton.models.superman.modeling_superman.SupermanForConditionalGeneration.from_backbone_pretrained`
and ``from_causal_lm_pretrained``, whose docstrings say what each builds and trains)."""

from __future__ import annotations

from typing import Any

import torch

from ...errors import CheckpointError, SkeletonInputError
from ..vgmt.modeling_vgmt import VGMTModel
from .configuration_superman import SupermanConfig
from .motion_rows import typical_rows
from .motion_text import MotionTextFormatter


def superman_from_vlm(cls: type, vlm_name_or_path: str, vgmt: Any, *, use_maft: bool = False,
                      mean_resizing: bool = True, **from_pretrained_kwargs: Any):
    """``(model, processor)``: Superman around a Qwen2-VL / Qwen2.5-VL checkpoint, its weights adopted on the
    meta device."""
    from accelerate import init_empty_weights
    from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoTokenizer

    from ..vgmt.configuration_vgmt import VGMTConfig
    from .modeling_superman import SupermanModel
    from .processing_superman import build_superman_processor

    if isinstance(vgmt, VGMTConfig):
        vgmt = VGMTModel(vgmt)
    elif not isinstance(vgmt, VGMTModel):
        vgmt = VGMTModel.from_pretrained(vgmt)
    vlm = AutoModelForImageTextToText.from_pretrained(vlm_name_or_path, **from_pretrained_kwargs)
    if not hasattr(vlm.model, "visual"):
        raise SkeletonInputError("vlm_name_or_path", "a Qwen2-VL / Qwen2.5-VL checkpoint (Superman's VLM)",
                                 vlm.config.model_type)
    config = SupermanConfig(vlm_config=vlm.config, vgmt_config=vgmt.config, use_maft=use_maft)
    with init_empty_weights():  # parameters on the meta device, replaced below
        model = cls(config)
    model.model.vlm.load_state_dict(vlm.model.state_dict(), assign=True, strict=True)
    model.lm_head.load_state_dict(vlm.lm_head.state_dict(), assign=True, strict=True)
    model.vgmt.load_state_dict(vgmt.state_dict(), assign=True, strict=True)
    if model.model.maft is not None:  # new, built for real (the hook on the merger calls self.maft)
        model.model.maft = SupermanModel.build_maft(config).to(device=vlm.device, dtype=vlm.dtype)
        model.model.maft.apply(model._init_weights)  # ends with MAFT's identity-start reset
    if config.freeze_vgmt:
        model.vgmt.requires_grad_(False)
    model.generation_config = vlm.generation_config
    model.tie_weights()
    tokenizer = AutoTokenizer.from_pretrained(vlm_name_or_path)
    try:
        image_processor = AutoImageProcessor.from_pretrained(vlm_name_or_path)
    except (OSError, ValueError):  # no preprocessor_config.json: the small-frame default
        image_processor = None
    processor = build_superman_processor(tokenizer, vgmt.config, image_processor=image_processor)
    model.resize_for_motion_tokens(processor.tokenizer, mean_resizing=mean_resizing)
    return model, processor


def superman_from_causal_lm(cls: type, lm_name_or_path: str, vgmt: Any, processor: Any = None, *,
                            lora: dict[str, Any] | None, dtype: torch.dtype = torch.float32, seed: int = 0,
                            vision: str | None = None, token_grid: int = 2):
    """``(model, processor)``: Superman on a Llama-style causal LM, LoRA and motion-token rows trained, the LLM
    referenced by ``config.backbone_weights``; with ``vision`` (a CNN backbone such as EfficientNet-Lite0) the
    VLM is a LLaVA composed of both (``token_grid`` x ``token_grid`` tokens per frame, a new projector that
    trains in full, the tower frozen and referenced too)."""
    from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer, GenerationConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from ...backbone_weights import (
        BackboneSource,
        backbone_reference,
        language_model_entries,
        vision_tower_entry,
    )
    from ..composed_vlm import compose_vlm_config, vision_tower_config
    from ..vgmt.configuration_vgmt import VGMTConfig
    from .processing_superman import IMAGE_TOKEN, causal_lm_superman_processor

    if isinstance(vgmt, VGMTConfig):
        vgmt = VGMTModel(vgmt)
    elif not isinstance(vgmt, VGMTModel):
        vgmt = VGMTModel.from_pretrained(vgmt)
    folder, reference = backbone_reference(str(lm_name_or_path))
    text_config = AutoConfig.from_pretrained(folder)
    if text_config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or hasattr(text_config, "vision_config"):
        raise SkeletonInputError("lm_name_or_path", "a text-only causal LM (from_backbone_pretrained takes a "
                                 "Qwen2-VL / Qwen2.5-VL)", f"{lm_name_or_path} ({text_config.model_type})")
    vision_entries, tower_config = [], None
    if vision is not None:
        if isinstance(token_grid, bool) or not isinstance(token_grid, int) or token_grid < 1:
            raise SkeletonInputError("token_grid", "a positive integer (tokens per frame: its square)", token_grid)
        vision_folder, vision_ref = backbone_reference(str(vision))
        tower_config = vision_tower_config(str(vision_folder), token_grid)
        vision_entries = [vision_tower_entry(vision_ref, vision_folder, "model.vlm.vision_tower.")]
    if processor is None:
        processor = causal_lm_superman_processor(
            AutoTokenizer.from_pretrained(folder), vgmt.config, name=f"{lm_name_or_path} tokenizer",
            image_processor=None if vision is None else AutoImageProcessor.from_pretrained(vision_folder),
            frame_tokens=None if vision is None else token_grid**2)
    elif vision is not None and processor.frame_tokens != token_grid**2:
        raise SkeletonInputError("processor.frame_tokens", f"{token_grid**2} (token_grid {token_grid} squared)",
                                 processor.frame_tokens)
    tokenizer = processor.tokenizer
    ids = MotionTextFormatter.from_vgmt_config(vgmt.config).token_ids(tokenizer)
    motion_ids = [*ids["codes"], ids["start"], ids["end"]]
    if motion_ids != list(range(motion_ids[0], motion_ids[0] + len(motion_ids))):
        raise SkeletonInputError("processor.tokenizer", "the K + 2 motion tokens at consecutive ids",
                                 motion_ids[:3] + ["..."])
    base_vocab = int(text_config.vocab_size)
    text_config.vocab_size = max(base_vocab, len(tokenizer))  # room for the added tokens
    text_config.dtype = dtype
    if tower_config is None:
        vlm_config, trained, prefix = text_config, None, "model.vlm."
    else:
        vlm_config = compose_vlm_config(tower_config, text_config, tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
        trained, prefix = ["multi_modal_projector"], "model.vlm.language_model."
    config = SupermanConfig(
        vlm_config=vlm_config, vgmt_config=vgmt.config, motion_token_offset=motion_ids[0],
        trainable_motion_rows=True, lora=lora, trainable_vlm_modules=trained,
        backbone_weights=[*vision_entries, *language_model_entries(reference, text_config, prefix)])
    model = cls(config)
    left = BackboneSource(config.backbone_weights).fill(model, list(model.state_dict()))
    missing = [k for k in left if k.startswith(("model.vlm.", "lm_head.")) and "lora_" not in k
               and not k.endswith(".motion_rows") and ".multi_modal_projector." not in k]
    if missing:
        source = vision if "vision_tower" in missing[0] else folder
        raise CheckpointError(source, f"no tensor for {missing[:3]} in the backbone's weights (Superman reads a "
                                      "Llama-style decoder: model.* and lm_head.*)")
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        embeddings = model.get_input_embeddings()
        base = embeddings.weight[: min(embeddings.start, base_vocab)]  # the LLM's own rows
        embeddings.motion_rows.copy_(typical_rows(base, embeddings.count, generator))
        if model.lm_head.motion_rows is not embeddings.motion_rows:  # an untied head: rows like its own
            head = model.lm_head.weight[: base.shape[0]]
            model.lm_head.motion_rows.copy_(typical_rows(head, embeddings.count, generator))
        model.vgmt.load_state_dict(vgmt.state_dict())
    try:
        model.generation_config = GenerationConfig.from_pretrained(folder)
    except OSError:  # no generation_config.json: the one built from the config
        pass
    return model, processor
