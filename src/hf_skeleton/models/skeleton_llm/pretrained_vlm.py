"""Compose an image-text-to-text VLM from a pretrained vision backbone and a pretrained language model.

The paper puts DrAction in front of a pretrained VLM (InternVL3-8B). None downloads here, but two
pretrained backbones install offline (``hs.backbone_path``): EfficientNet-Lite0 (ImageNet) and
SmolLM2-135M-Instruct. :func:`build_from_backbones` joins them as a transformers ``LlavaModel``:

    frame (3, 224, 224) in [-1, 1] -> EfficientNet-Lite0 -> (1280, 7, 7) -> pooled to g x g tokens (1280 each)
    -> multi_modal_projector (Linear 1280 -> 576, GELU, Linear 576 -> 576) -> SmolLM2 at the ``<image>`` tokens

(``LlavaConfig(vision_config=EfficientNetLiteConfig(token_grid=g), text_config=<SmolLM2's LlamaConfig>,
vision_feature_layer=-1, vision_feature_select_strategy="full")``), so everything built on SkeletonLLM
(the four training stages, ``pipeline("skeleton-understanding")``, candidate scoring, save/load with the
Auto classes) runs unchanged. The tower and the language model carry the pretrained weights; the
projector and the embeddings of the added tokens (``<skeleton>``, ``<image>``) are new.
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import CheckpointError, SkeletonInputError
from ..composed_vlm import compose_vlm_config, vision_tower_config
from .image_adapters import ImageAdapterConfig

IMAGE_TOKEN = "<image>"
def _add_tokens(tokenizer, tokens: list[str]) -> None:
    missing = [t for t in tokens if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    for token in tokens:
        ids = tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            raise SkeletonInputError(f"tokenizer ({token})", "one token", ids)


def build_from_backbones(cls, vision: str, text: str, draction_config: Any = None, *, token_grid: int = 2,
                         skeleton_token: str = "<skeleton>", image_token: str = IMAGE_TOKEN,
                         image_adapter: ImageAdapterConfig | None = None, image_size: int | None = None,
                         frozen_eval: bool = True, dtype: torch.dtype = torch.float32):
    """See :meth:`SkeletonLLMForConditionalGeneration.from_backbones`. Returns ``(model, processor)``."""
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    from ...backbone_weights import (
        BackboneSource,
        backbone_reference,
        language_model_entries,
        vision_tower_entry,
    )
    from ..draction.configuration_draction import DrActionConfig
    from .configuration_skeleton_llm import SkeletonLLMConfig
    from .modeling_skeleton_llm import _adapter_from_checkpoint
    from .processing_skeleton_llm import SkeletonLLMProcessor

    vision_folder, vision_ref = backbone_reference(vision)
    text_folder, text_ref = backbone_reference(text)
    tower_config = vision_tower_config(str(vision_folder), token_grid, frozen_eval)
    tokenizer = AutoTokenizer.from_pretrained(text_folder)
    _add_tokens(tokenizer, [skeleton_token, image_token])
    text_config = AutoConfig.from_pretrained(text_folder)
    text_config.vocab_size = max(text_config.vocab_size, len(tokenizer))  # added rows: the mean embedding
    vlm_config = compose_vlm_config(tower_config, text_config, tokenizer.convert_tokens_to_ids(image_token))

    if image_adapter is None:
        image_adapter = _adapter_from_checkpoint(str(vision_folder))  # the backbone's own preprocessor_config.json
    if image_adapter is None:
        image_adapter = ImageAdapterConfig.for_vlm_config(vlm_config, tower_config.image_size)
    if image_size is not None:  # the tower reads another square size, normalised the same way
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 32:
            raise SkeletonInputError("image_size", "an integer >= 32 (pixels) or None", image_size)
        image_adapter = ImageAdapterConfig(**{**image_adapter.to_dict(), "size": (image_size, image_size)})
    if draction_config is None:
        draction_config = DrActionConfig(num_frames=8, image_size=int(image_adapter.size[0]))
    entries = [vision_tower_entry(vision_ref, vision_folder, "model.vlm.vision_tower."),
               *language_model_entries(text_ref, text_config, "model.vlm.language_model.")]
    config = SkeletonLLMConfig(draction_config=draction_config, vlm_config=vlm_config,
                               skeleton_token=skeleton_token, image_adapter=image_adapter, backbone_weights=entries)
    model = cls(config)
    left = BackboneSource(entries).fill(model, list(model.state_dict()))
    unfilled = [k for k in left if k.startswith(("model.vlm.vision_tower.", "model.vlm.language_model."))]
    if unfilled:
        raise CheckpointError(vision if "vision_tower" in unfilled[0] else text, f"no backbone tensor for {unfilled[:5]}")
    model.to(dtype)
    model.model.renderer.to(torch.float32)  # the renderer stays in float32 (a few thousand parameters)
    try:
        model.generation_config = GenerationConfig.from_pretrained(text_folder)
    except OSError:
        pass
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    processor = SkeletonLLMProcessor.from_model_config(config, tokenizer)
    return model, processor


__all__ = ["IMAGE_TOKEN", "build_from_backbones", "compose_vlm_config", "vision_tower_config"]
