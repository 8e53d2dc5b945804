"""VGMT: the Vision-Guided Motion Tokenizer of Superman."""

from .codebook import HybridCodebook
from .configuration_vgmt import VGMTConfig, default_vision_config
from .modeling_vgmt import VGMTModel, VGMTOutput, VGMTPreTrainedModel, normalize_motion
from .processing_vgmt import VGMTProcessor  # noqa: F401
from .visual_sampling import VisualSkeletonAttention

__all__ = ["HybridCodebook", "VGMTConfig", "VGMTModel", "VGMTOutput", "VGMTPreTrainedModel",
           "VisualSkeletonAttention", "default_vision_config", "normalize_motion"]
