"""Superman: one MLLM on VGMT motion tokens for 3D pose estimation, motion prediction and in-betweening."""

from .configuration_superman import SupermanConfig
from .generation_superman import MotionTemplateConstraint, constrained_generate
from .maft import MAFT, DeformablePoseSampler
from .modeling_superman import SupermanForConditionalGeneration, SupermanModel, SupermanPreTrainedModel
from .motion_text import MotionParse, MotionParseError, MotionTextFormatter
from .processing_superman import SupermanProcessor, SupermanTaskBuilder

__all__ = [
    "MAFT",
    "DeformablePoseSampler",
    "MotionParse",
    "MotionTemplateConstraint",
    "MotionParseError",
    "MotionTextFormatter",
    "SupermanConfig",
    "SupermanForConditionalGeneration",
    "SupermanModel",
    "SupermanPreTrainedModel",
    "SupermanProcessor",
    "SupermanTaskBuilder",
    "constrained_generate",
]
