"""Built-in readers, one module per file format (see :func:`hf_skeleton.load_skeleton`)."""

from __future__ import annotations

from .arrays import is_humanml3d, read_array, read_humanml3d
from .bvh import read_bvh
from .nucla import NUCLA_ACTIONS, is_nucla_json, read_nucla_json

__all__ = ["NUCLA_ACTIONS", "read_array", "read_bvh", "read_humanml3d", "read_nucla_json",
           "register_builtin_readers"]


def register_builtin_readers() -> None:
    from ..io import register_reader

    register_reader("array", (".npy", ".npz"), read_array,
                    description="a plain array (T, J, 3) / (T, P, J, 3); pass format=")
    register_reader("humanml3d", (".npy",), read_humanml3d, sniff=is_humanml3d,
                    description="HumanML3D new_joints/<id>.npy (T, 22, 3)")
    register_reader("bvh", (".bvh",), read_bvh, description="Biovision Hierarchy motion capture")
    register_reader("nucla", (".json",), read_nucla_json, sniff=is_nucla_json,
                    description="N-UCLA clip with keys 'skeletons' and 'label'")
