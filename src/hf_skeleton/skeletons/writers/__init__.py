"""Built-in writers, one module per file format (see :func:`hf_skeleton.save_skeleton`)."""

from __future__ import annotations

from .bvh import fit_bvh, write_bvh
from .humanml3d_vecs import humanml3d_vectors, write_humanml3d_vecs
from .npz import write_npz

__all__ = ["fit_bvh", "humanml3d_vectors", "register_builtin_writers", "write_bvh", "write_humanml3d_vecs",
           "write_npz"]


def register_builtin_writers() -> None:
    from ..readers.ntu import write_ntu_skeleton
    from ..save import register_writer

    register_writer("bvh", (".bvh",), write_bvh,
                    description="BVH hierarchy from the format's parents, rotations solved from the positions")
    register_writer("humanml3d_vecs", (".npy",), write_humanml3d_vecs,
                    description="HumanML3D 263-dim feature vectors (smpl22, 20 fps)")
    register_writer("ntu", (".skeleton",), write_ntu_skeleton, description="NTU RGB+D .skeleton text (kinect_v2)")
    register_writer("npz", (".npz",), write_npz,
                    description="positions, mask, fps and the format as JSON: any sequence, read back as is")
