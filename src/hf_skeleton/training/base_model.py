"""``--base NAME_OR_FOLDER_OR_HUB_ID`` (#15): the model a recipe fine-tunes, under one name for every recipe.

:func:`base_kind` reads the model type from the base's ``config.json`` (a backbone name of
:func:`~hf_skeleton.backbones.backbone_path`, an embedded model's name, a folder, or a Hub id, read from the
cache when offline) and says what it is; the recipes' configs then fill the field the base stands for:

==================  ===============================  ==========================================
kind                LLaMo                             SkeletonLLM
==================  ===============================  ==========================================
``causal-lm``       ``text_model`` (the LLM)          ``text_model`` (composed with ``vision_model``)
``vlm``             refused                           ``vlm`` (the whole pretrained VLM)
``llamo``           ``init_from`` (a saved LLaMo)     refused
``none``            ``text_model=None`` (tiny LLM)    tiny random Qwen2.5-VL (no vision/text model)
==================  ===============================  ==========================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CheckpointError, HFSkeletonError, SkeletonInputError

NONE = ("", "none")


def _config_dict(base: str) -> dict[str, Any]:
    from transformers import PretrainedConfig

    from ..backbones import BACKBONES, backbone_path
    from ..embedded import EMBEDDED_ROOT

    if base in BACKBONES:
        source = backbone_path(base)
    elif (EMBEDDED_ROOT / base / "config.json").is_file() and not Path(base).exists():
        source = str(EMBEDDED_ROOT / base)
    else:
        source = base
    try:
        config, _ = PretrainedConfig.get_config_dict(source)
    except (OSError, ValueError) as err:  # no such folder, offline and not cached, not a model repository
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CheckpointError(base, f"--base: no config.json to read (a backbone name {sorted(BACKBONES)}, an "
                                    f"embedded model, a model folder or a Hub id; {reason[:200]})") from None
    return config


def resolve_embedded(base: str) -> str:
    """An embedded model's name as its folder (anything else as given)."""
    from ..embedded import EMBEDDED_ROOT

    folder = EMBEDDED_ROOT / base
    return str(folder) if not Path(base).exists() and (folder / "config.json").is_file() else base


def base_kind(base: str) -> tuple[str, str]:
    """``(kind, model_type)`` of a base model: kind ``"none"`` (``base`` is "none": the tiny test models),
    ``"llamo"``, ``"skeleton_llm"`` (saved models of this package), ``"vlm"`` (an image-text-to-text model),
    ``"causal-lm"`` (a language model), or ``"other"``.

    Raises:
        CheckpointError: no ``config.json`` can be read for ``base``.
    """
    if str(base).strip().lower() in NONE:
        return "none", ""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
    )

    config = _config_dict(str(base))
    model_type = str(config.get("model_type", ""))
    if model_type in ("llamo", "skeleton_llm"):
        return model_type, model_type
    if model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES or (
            "vision_config" in config and "text_config" in config):
        return "vlm", model_type
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "causal-lm", model_type
    return "other", model_type


def refuse(config_name: str, base: str, kind: str, model_type: str, wants: str) -> HFSkeletonError:
    """The typed error for a base the recipe cannot build on."""
    return SkeletonInputError(f"{config_name}.base", wants, f"{base} (model type {model_type!r}, a {kind})")


def conflict(config_name: str, field: str, base: str, given: Any) -> HFSkeletonError:
    """The typed error for ``--base`` given beside a different ``--FIELD``."""
    return SkeletonInputError(f"{config_name}.base/{field}", f"one model: --base names the {field.replace('_', '-')}"
                              " (give either, or both the same)", {"base": base, field: given})


__all__ = ["base_kind", "conflict", "refuse", "resolve_embedded"]
