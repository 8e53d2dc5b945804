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
    list_readers,
    load_skeleton,
    register_format,
    register_reader,
)
from .models.vgmt import VGMTConfig, VGMTModel
from .models.superman import SupermanConfig, SupermanForConditionalGeneration, SupermanModel, SupermanProcessor
from .models.draction import DrActionConfig, DrActionModel, DrActionOutput
from .rendering.rasterizer import RasterOutput, rasterize_gaussians
from .models.skeleton_llm import (
    ImageAdapterConfig,
    SkeletonLLMConfig,
    SkeletonLLMForConditionalGeneration,
    SkeletonLLMModel,
    SkeletonLLMProcessor,
)
from .models.llamo import LlamoConfig, LlamoForConditionalGeneration, LlamoModel, LlamoProcessor
from .embedded import embedded_model_path, list_embedded_models
from .video import load_video, sample_frame_indices, video_info
from .viz import save_animation, save_frame_grid

__version__ = "0.1.0"

from ._registration import register_all as _register_all  # noqa: E402

_register_all()
