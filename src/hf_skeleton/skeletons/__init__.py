"""The skeleton data model: formats, sequences, readers and transforms."""

from .convert import convert, joint_correspondence
from .formats import BODY_PARTS, SkeletonFormat, get_format, list_formats, register_format
from .sequence import SkeletonSequence

__all__ = [
    "BODY_PARTS",
    "SkeletonFormat",
    "SkeletonSequence",
    "convert",
    "get_format",
    "joint_correspondence",
    "list_formats",
    "register_format",
]
