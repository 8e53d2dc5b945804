"""hf_skeleton: human skeleton data as a first-class modality in the Hugging Face stack.

Importing the package registers every model, processor and pipeline with transformers.
"""

from .errors import (
    CheckpointError,
    HFSkeletonError,
    SkeletonFileError,
    SkeletonFormatError,
    SkeletonInputError,
)
from .skeletons import (
    BODY_PARTS,
    SkeletonFormat,
    SkeletonSequence,
    get_format,
    list_formats,
    register_format,
)
from .models.vgmt import VGMTConfig, VGMTModel

__version__ = "0.1.0"

from ._registration import register_all as _register_all  # noqa: E402

_register_all()
