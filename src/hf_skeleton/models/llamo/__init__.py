"""LLaMo (CVPR 2025): continuous motion + video encoders projected into a causal LLM."""

from .configuration_llamo import LlamoConfig
from .modeling_llamo import (
    LlamoCrossTalker,
    LlamoForConditionalGeneration,
    LlamoModel,
    LlamoPreTrainedModel,
    LlamoProjector,
)
from .motion_encoder import LlamoMotionEncoder, motion_token_mask
from .processing_llamo import LlamoProcessor, default_image_processor

__all__ = [
    "LlamoConfig", "LlamoCrossTalker", "LlamoForConditionalGeneration", "LlamoModel", "LlamoPreTrainedModel",
    "LlamoProjector", "LlamoMotionEncoder", "motion_token_mask", "LlamoProcessor", "default_image_processor",
]
