"""SkeletonLLM: DrAction-rendered skeletons read by any Hugging Face vision-language model."""

from .configuration_skeleton_llm import SkeletonLLMConfig
from .image_adapters import ImageAdapter, ImageAdapterConfig, smart_resize
from .modeling_skeleton_llm import (
    SkeletonLLMCausalLMOutputWithPast,
    SkeletonLLMForConditionalGeneration,
    SkeletonLLMModel,
    SkeletonLLMModelOutputWithPast,
    SkeletonLLMPreTrainedModel,
)
from .processing_skeleton_llm import SkeletonLLMProcessor

__all__ = ["ImageAdapter", "ImageAdapterConfig", "SkeletonLLMCausalLMOutputWithPast", "SkeletonLLMConfig",
           "SkeletonLLMForConditionalGeneration", "SkeletonLLMModel", "SkeletonLLMModelOutputWithPast",
           "SkeletonLLMPreTrainedModel", "SkeletonLLMProcessor", "smart_resize"]
