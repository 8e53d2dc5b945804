"""DrAction's pieces as plain torch functions and modules.

gaussians (layout, scales), skinning (canonical pose, LBS, SO(3) projection), nfm (base colour,
Neural Feature Modulator), camera (framing, views, grids), rasterizer (torch / gsplat backends).
"""

from .camera import (
    VIEWS,
    authors_camera,
    clip_cameras,
    fit_camera,
    intrinsics_matrix,
    tile_views,
    view_rotation,
)
from .gaussians import GaussianLayout, build_layout, isotropic_scales, metres_per_unit, num_gaussians
from .nfm import GaussianColor, NeuralFeatureModulator, depth_ramp
from .rasterizer import RasterOutput, rasterize_gaussians
from .skinning import LinearBlendSkinning, canonical_pose, project_to_so3, relative_rotations

__all__ = [
    "VIEWS", "GaussianColor", "GaussianLayout", "LinearBlendSkinning", "NeuralFeatureModulator", "RasterOutput",
    "authors_camera", "build_layout", "canonical_pose", "clip_cameras", "depth_ramp", "fit_camera",
    "intrinsics_matrix", "isotropic_scales", "metres_per_unit", "num_gaussians", "project_to_so3",
    "rasterize_gaussians", "relative_rotations", "tile_views", "view_rotation",
]
