"""DrAction: the differentiable, format-agnostic 3D-Gaussian skeleton renderer of SkeletonLLM.

The model's learnable parts live here (Gaussian layout and scales, linear blend skinning, base
colour and Neural Feature Modulator); the parameter-free cameras and rasterizers it uses are in
:mod:`hf_skeleton.rendering`.
"""

from .configuration_draction import DrActionConfig
from .gaussian_layout import GaussianLayout, build_layout, isotropic_scales, metres_per_unit, num_gaussians
from .modeling_draction import DrActionModel, DrActionOutput, DrActionPreTrainedModel
from .nfm import GaussianColor, NeuralFeatureModulator, depth_ramp
from .skinning import LinearBlendSkinning, canonical_pose, project_to_so3, relative_rotations

__all__ = [
    "DrActionConfig", "DrActionModel", "DrActionOutput", "DrActionPreTrainedModel", "GaussianColor", "GaussianLayout",
    "LinearBlendSkinning", "NeuralFeatureModulator", "build_layout", "canonical_pose", "depth_ramp",
    "isotropic_scales", "metres_per_unit", "num_gaussians", "project_to_so3", "relative_rotations",
]
