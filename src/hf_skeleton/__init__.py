"""hf_skeleton: human skeleton data as a first-class modality in the Hugging Face stack.

Importing the package is cheap: public names load on first use (like transformers' ``_LazyModule``),
and every config, model, processor and pipeline is registered with transformers the moment
``AutoConfig`` / ``AutoModel*`` / ``AutoProcessor`` / ``pipeline()`` is imported (see
``_registration``), so ``AutoModel.from_pretrained(folder)`` works after ``import hf_skeleton``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from . import _registration
from .errors import (
    CheckpointError,
    HFSkeletonError,
    NoDefaultModelError,
    SkeletonFileError,
    SkeletonFormatError,
    SkeletonInputError,
)

__version__ = "0.1.0"

# the library logs through logging.getLogger(__name__) under "hf_skeleton"; nothing is printed unless the
# application configures logging (``logging.basicConfig(level=logging.INFO)``; the CLI's ``-v``)
logging.getLogger(__name__).addHandler(logging.NullHandler())

# public name -> the module that defines it
_LAZY: dict[str, str] = {
    **dict.fromkeys(["BODY_PARTS", "SkeletonFormat", "SkeletonSequence", "get_format", "list_formats",
                     "list_readers", "list_writers", "load_calibration", "load_skeleton", "register_format",
                     "register_reader", "register_writer", "save_skeleton", "triangulate"], ".skeletons"),
    **dict.fromkeys(["VGMTConfig", "VGMTModel"], ".models.vgmt"),
    **dict.fromkeys(["SupermanConfig", "SupermanForConditionalGeneration", "SupermanModel", "SupermanProcessor"],
                    ".models.superman"),
    **dict.fromkeys(["DrActionConfig", "DrActionModel", "DrActionOutput"], ".models.draction"),
    **dict.fromkeys(["RasterOutput", "rasterize_gaussians"], ".rendering.rasterizer"),
    **dict.fromkeys(["ImageAdapterConfig", "SkeletonLLMConfig", "SkeletonLLMForConditionalGeneration",
                     "SkeletonLLMModel", "SkeletonLLMProcessor"], ".models.skeleton_llm"),
    **dict.fromkeys(["LlamoConfig", "LlamoForConditionalGeneration", "LlamoModel", "LlamoProcessor"],
                    ".models.llamo"),
    **dict.fromkeys(["embedded_model_path", "list_embedded_models"], ".embedded"),
    **dict.fromkeys(["BackboneNotInstalledError", "backbone_path", "list_backbones"], ".backbones"),
    **dict.fromkeys(["EfficientNetLiteConfig", "EfficientNetLiteForImageClassification", "EfficientNetLiteModel"],
                    ".models.efficientnet_lite"),
    "SkeletonProcessor": ".processing.skeleton_processor",
    "VGMTProcessor": ".models.vgmt",
    **dict.fromkeys(["load_video", "sample_frame_indices", "video_info"], ".video"),
    **dict.fromkeys(["save_animation", "save_frame_grid"], ".viz"),
    "register_all": "._registration",
}
_SUBMODULES = ("backbones", "cards", "data", "dataset_tools", "embedded", "evaluation", "hub", "models", "pipelines",
               "processing", "rendering", "skeletons", "testing", "training", "video", "viz")

__all__ = sorted([*_LAZY, "CheckpointError", "HFSkeletonError", "NoDefaultModelError", "SkeletonFileError",
                  "SkeletonFormatError", "SkeletonInputError", "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the names load on first use
    from .backbones import BackboneNotInstalledError, backbone_path, list_backbones
    from .embedded import embedded_model_path, list_embedded_models
    from .models.draction import DrActionConfig, DrActionModel, DrActionOutput
    from .models.efficientnet_lite import (
        EfficientNetLiteConfig,
        EfficientNetLiteForImageClassification,
        EfficientNetLiteModel,
    )
    from .models.llamo import LlamoConfig, LlamoForConditionalGeneration, LlamoModel, LlamoProcessor
    from .models.skeleton_llm import (
        ImageAdapterConfig,
        SkeletonLLMConfig,
        SkeletonLLMForConditionalGeneration,
        SkeletonLLMModel,
        SkeletonLLMProcessor,
    )
    from .models.superman import (
        SupermanConfig,
        SupermanForConditionalGeneration,
        SupermanModel,
        SupermanProcessor,
    )
    from .models.vgmt import VGMTConfig, VGMTModel, VGMTProcessor
    from .processing.skeleton_processor import SkeletonProcessor
    from .rendering.rasterizer import RasterOutput, rasterize_gaussians
    from .skeletons import (
        BODY_PARTS,
        SkeletonFormat,
        SkeletonSequence,
        get_format,
        list_formats,
        list_readers,
        list_writers,
        load_calibration,
        load_skeleton,
        register_format,
        register_reader,
        register_writer,
        save_skeleton,
        triangulate,
    )
    from .video import load_video, sample_frame_indices, video_info
    from .viz import save_animation, save_frame_grid

_registration.install()
