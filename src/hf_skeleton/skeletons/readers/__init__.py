"""Built-in readers, one module per file format (see :func:`hf_skeleton.load_skeleton`)."""

from __future__ import annotations

from .amass import is_amass_npz, read_amass
from .arrays import is_humanml3d, read_array, read_humanml3d
from .bvh import read_bvh
from .coco import is_coco_json, read_coco
from .humanml3d_vecs import is_humanml3d_vecs, read_humanml3d_vecs
from .ntu import NTU60_ACTIONS, read_ntu_skeleton, write_ntu_skeleton
from .nucla import NUCLA_ACTIONS, is_nucla_json, read_nucla_json
from .openpose import is_openpose_folder, is_openpose_json, read_openpose
from .trc import POSE2SIM21, read_trc

__all__ = ["NTU60_ACTIONS", "NUCLA_ACTIONS", "POSE2SIM21", "read_amass", "read_array", "read_bvh", "read_coco",
           "read_humanml3d", "read_humanml3d_vecs", "read_ntu_skeleton", "read_nucla_json", "read_openpose", "read_trc",
           "register_builtin_readers", "write_ntu_skeleton"]


def register_builtin_readers() -> None:
    from ..io import register_reader

    register_reader("array", (".npy", ".npz"), read_array,
                    description="a plain array (T, J, 3) / (T, P, J, 3); pass format=")
    register_reader("humanml3d", (".npy",), read_humanml3d, sniff=is_humanml3d,
                    description="HumanML3D new_joints/<id>.npy (T, 22, 3)")
    register_reader("humanml3d_vecs", (".npy",), read_humanml3d_vecs, sniff=is_humanml3d_vecs,
                    description="HumanML3D new_joint_vecs/<id>.npy (T, 263) feature vectors")
    register_reader("amass", (".npz",), read_amass, sniff=is_amass_npz,
                    description="AMASS SMPL-H parameters (poses, betas, trans); needs body_model_dir=")
    register_reader("bvh", (".bvh",), read_bvh, description="Biovision Hierarchy motion capture")
    register_reader("ntu", (".skeleton",), read_ntu_skeleton, description="NTU RGB+D Kinect v2 text export")
    register_reader("trc", (".trc",), read_trc, description="TRC marker trajectories (OpenSim, Pose2Sim)")
    register_reader("nucla", (".json",), read_nucla_json, sniff=is_nucla_json,
                    description="N-UCLA clip with keys 'skeletons' and 'label'")
    register_reader("openpose", (".json",), read_openpose, sniff=is_openpose_json,
                    description="OpenPose frame with key 'people'")
    register_reader("coco", (".json",), read_coco, sniff=is_coco_json,
                    description="COCO keypoints with keys 'annotations' and 'images'")
    register_reader("openpose_folder", ("/",), read_openpose, sniff=is_openpose_folder,
                    description="a folder of OpenPose per-frame JSON files")
