"""Parameter-free rendering of 3D Gaussians: cameras and rasterizers (plain torch functions).

camera (framing, named views, grids), projection (3D -> 2D Gaussians), rasterizer (torch / gsplat /
dense backends). Nothing here holds learnable state: DrAction's learnable parts (Gaussian layout,
skinning, NFM) are in :mod:`hf_skeleton.models.draction`.
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
from .rasterizer import RasterOutput, rasterize_gaussians

__all__ = [
    "VIEWS", "RasterOutput", "authors_camera", "clip_cameras", "fit_camera", "intrinsics_matrix",
    "rasterize_gaussians", "tile_views", "view_rotation",
]
