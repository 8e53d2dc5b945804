"""The skeleton data model: formats, sequences, readers and transforms."""

from .calibration import Calibration, Camera, load_calibration
from .convert import canonical_joint_names, convert, joint_correspondence, joint_name_convention
from .formats import BODY_PARTS, SkeletonFormat, get_format, list_formats, register_format
from .io import list_readers, load_skeleton, register_reader
from .save import list_writers, register_writer, save_skeleton
from .sequence import SkeletonSequence
from .triangulation import triangulate

__all__ = [
    "BODY_PARTS",
    "Calibration",
    "Camera",
    "SkeletonFormat",
    "SkeletonSequence",
    "canonical_joint_names",
    "convert",
    "get_format",
    "joint_correspondence",
    "joint_name_convention",
    "list_formats",
    "list_readers",
    "list_writers",
    "load_calibration",
    "load_skeleton",
    "register_format",
    "register_reader",
    "register_writer",
    "save_skeleton",
    "triangulate",
]
