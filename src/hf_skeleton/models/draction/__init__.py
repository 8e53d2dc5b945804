"""DrAction: the differentiable, format-agnostic 3D-Gaussian skeleton renderer of SkeletonLLM."""

from .configuration_draction import DrActionConfig
from .modeling_draction import DrActionModel, DrActionOutput, DrActionPreTrainedModel

__all__ = ["DrActionConfig", "DrActionModel", "DrActionOutput", "DrActionPreTrainedModel"]
