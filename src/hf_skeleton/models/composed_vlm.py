"""The config of a VLM composed of a pretrained CNN tower and a pretrained causal LM: a transformers LLaVA whose
tower gives ``token_grid`` x ``token_grid`` pooled tokens per image (SkeletonLLM's and Superman's
``from_backbones``, LLaMo's video tower). A module of its own so that a model folder's remote code
(:mod:`hf_skeleton.remote_code` copies each model's import closure) does not carry another model's code."""

from __future__ import annotations

from typing import Any

from ..errors import SkeletonInputError

_DROPPED_VISION_KEYS = ("id2label", "label2id", "num_labels", "architectures", "_name_or_path", "dtype",
                        "transformers_version", "problem_type")


def vision_tower_config(vision: str, token_grid: int = 2, frozen_eval: bool = True):
    """The vision backbone's config as a token-giving tower: ``token_grid`` x ``token_grid`` tokens per
    image; the classifier's label maps dropped. Only CNN towers of ``VISION_TOWER_FAMILIES`` are supported."""
    from transformers import AutoConfig

    from .skeleton_llm.image_adapters import VISION_TOWER_FAMILIES

    source = AutoConfig.from_pretrained(vision)
    if source.model_type not in VISION_TOWER_FAMILIES:
        raise SkeletonInputError("vision", f"a backbone of type {sorted(VISION_TOWER_FAMILIES)} "
                                           "(e.g. hs.backbone_path('efficientnet-lite0'))", source.model_type)
    data = {k: v for k, v in source.to_dict().items() if k not in _DROPPED_VISION_KEYS}
    data.update(token_grid=token_grid, frozen_eval=frozen_eval)
    data.pop("model_type", None)
    return type(source)(**data)


def compose_vlm_config(vision_config: Any, text_config: Any, image_token_id: int,
                       projector_hidden_act: str = "gelu"):
    """``LlavaConfig`` reading the tower's pooled tokens (``hidden_states[-1]``, all of them)."""
    from transformers import LlavaConfig

    return LlavaConfig(vision_config=vision_config, text_config=text_config, image_token_index=int(image_token_id),
                       image_seq_length=vision_config.num_image_tokens, vision_feature_layer=-1,
                       vision_feature_select_strategy="full", projector_hidden_act=projector_hidden_act,
                       tie_word_embeddings=bool(getattr(text_config, "tie_word_embeddings", False)))


__all__ = ["compose_vlm_config", "vision_tower_config"]
