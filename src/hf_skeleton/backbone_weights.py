"""Folders that ship only what was trained; the pretrained rest resolves through ``hs.backbone_path``.

A model built on pretrained backbones (SmolLM2, EfficientNet-Lite0) records where those weights came
from in ``config.backbone_weights``, a list of entries::

    {"backbone": "smollm2-135m-instruct",      # a backbone_path name, a local folder or a Hub id
     "source": "model.",                        # key prefix in the backbone's safetensors
     "target": "model.language_model."}         # key prefix in this model's state dict

``save_pretrained`` then writes only the tensors that differ from the backbone (adapters, projectors,
encoders, the renderer), and ``from_pretrained`` fills every tensor the folder lacks from the backbone,
so a 540 MB composition ships as a few MB. A LoRA-wrapped layer's ``base_layer`` reads the backbone's
plain layer; a model tensor with more rows than the backbone's (added tokens) reads the backbone rows
followed by their mean, the same deterministic extension :func:`extend_rows` gives at build time.

``config.lora`` (a ``peft.LoraConfig`` as a dict) makes the architecture carry LoRA layers, so the adapters
are saved unmerged (merging would change the base weights and ship them whole).
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, SkeletonInputError

_ENTRY_KEYS = ("backbone", "source", "target")


def check_entries(entries: Any, name: str = "backbone_weights") -> list[dict[str, str]]:
    """Validated copy of a ``backbone_weights`` list (``None``: no backbone)."""
    if entries is None:
        return []
    if not isinstance(entries, (list, tuple)):
        raise SkeletonInputError(name, "a list of {'backbone', 'source', 'target'} entries", type(entries).__name__)
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or set(entry) != set(_ENTRY_KEYS) or not all(
                isinstance(entry[k], str) for k in _ENTRY_KEYS) or not entry["backbone"]:
            raise SkeletonInputError(f"{name}[{i}]", "{'backbone': str, 'source': str, 'target': str}", entry)
        out.append({k: entry[k] for k in _ENTRY_KEYS})
    return out


def _backbones():
    """``hf_skeleton.backbones``, or ``None`` where a folder's copied code runs without the package: imported
    by name so that a model's remote code (:mod:`hf_skeleton.remote_code`) does not carry the backbone builders."""
    try:
        return importlib.import_module("hf_skeleton.backbones")
    except ImportError:
        return None


def resolve_backbone(backbone: str) -> Path:
    """A backbone reference -> a local folder: a :func:`~hf_skeleton.backbones.backbone_path` name (needs the
    hf_skeleton package), a folder, or a Hub id (downloaded when the Hub is reachable)."""
    module = _backbones()
    if module is not None and backbone in module.BACKBONES:
        return Path(module.backbone_path(backbone))
    if Path(backbone).is_dir():
        return Path(backbone)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(backbone, allow_patterns=["*.json", "*.safetensors"]))
    except Exception as err:  # offline, unknown id, ...
        names = sorted(module.BACKBONES) if module is not None else "(install hf_skeleton for backbone names)"
        raise CheckpointError(backbone, f"backbone weights not found: not a backbone name {names}, "
                                        f"not a folder, and the Hub gave {type(err).__name__}") from None


def backbone_reference(backbone: str) -> tuple[Path, str]:
    """``(local folder, reference to store in a config)`` for a backbone name, folder or Hub id. A folder
    built by :func:`~hf_skeleton.backbones.backbone_path` is stored by its name, so a saved model resolves
    on any machine with the backbone's package installed."""
    module = _backbones()
    known = module.BACKBONES if module is not None else {}
    folder = resolve_backbone(backbone)
    if backbone in known:
        return folder, backbone
    if Path(backbone).is_dir():
        try:
            name = json.loads((folder / module._MARKER).read_text()).get("name") if module else None
        except (OSError, ValueError, AttributeError):
            name = None
        return folder, name if name in known else str(folder.resolve())
    return folder, backbone


def base_model_prefix(folder: str | Path) -> str:
    """The key prefix of a checkpoint's base model (``efficientnet_lite`` for a classifier folder)."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(folder)
    return AutoModel._model_mapping[type(config)].base_model_prefix


def vision_tower_entry(backbone: str, folder: str | Path, target: str) -> dict:
    """The entry mapping a vision backbone's base model (an image classifier's, e.g. ``efficientnet_lite.*``)
    onto a tower under ``target``."""
    return {"backbone": backbone, "source": f"{base_model_prefix(folder)}.", "target": target}


def language_model_entries(backbone: str, text_config: Any, target: str, head: str = "lm_head.") -> list[dict]:
    """Entries mapping a causal LM backbone (``model.*``, ``lm_head.*``) onto a model whose language model
    sits under ``target`` and whose head is ``head``; a tied backbone head reads its input embeddings."""
    tied = bool(getattr(text_config, "tie_word_embeddings", False))
    return [{"backbone": backbone, "source": "model.", "target": target},
            {"backbone": backbone, "source": "model.embed_tokens." if tied else "lm_head.", "target": head}]


class BackboneTensors:
    """Lazy read access to the safetensors of one backbone folder (``key -> tensor``)."""

    def __init__(self, folder: Path):
        from safetensors import safe_open

        self.folder = folder
        self._files = []
        for path in sorted(Path(folder).glob("*.safetensors")):  # one file or the shards of an index
            try:
                self._files.append(safe_open(str(path), framework="pt"))
            except Exception as err:  # safetensors raises its own untyped errors on damaged files
                raise CheckpointError(path, f"backbone weights unreadable ({' '.join(str(err).split())})") from None
        if not self._files:
            raise CheckpointError(folder, "no safetensors weights in the backbone folder")
        self._where = {k: f for f in self._files for k in f.keys()}

    def names(self) -> list[str]:
        return list(self._where)

    def get(self, key: str) -> torch.Tensor | None:
        handle = self._where.get(key)
        return None if handle is None else handle.get_tensor(key)


def extend_rows(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """(V, D) -> (rows, D): the rows of ``weight`` followed by copies of their mean (added tokens)."""
    if rows <= weight.shape[0]:
        return weight[:rows]
    extra = weight.float().mean(0, keepdim=True).to(weight.dtype).expand(rows - weight.shape[0], *weight.shape[1:])
    return torch.cat([weight, extra], 0)


class BackboneSource:
    """Maps this model's tensor names onto backbone tensors, per ``config.backbone_weights``."""

    def __init__(self, entries: Sequence[Mapping[str, str]]):
        self.entries = check_entries(list(entries))
        self._opened: dict[str, BackboneTensors] = {}

    def _tensors(self, backbone: str) -> BackboneTensors:
        if backbone not in self._opened:
            self._opened[backbone] = BackboneTensors(resolve_backbone(backbone))
        return self._opened[backbone]

    def tensor_for(self, key: str, shape: Sequence[int]) -> torch.Tensor | None:
        """The backbone's tensor for model tensor ``key`` of ``shape`` (``None``: not from a backbone)."""
        for entry in self.entries:
            if not key.startswith(entry["target"]):
                continue
            rest = key[len(entry["target"]):].replace(".base_layer.", ".")
            found = self._tensors(entry["backbone"]).get(entry["source"] + rest)
            if found is None:
                continue
            shape = tuple(shape)
            if tuple(found.shape) == shape:
                return found
            if found.dim() == len(shape) and found.shape[1:] == shape[1:] and found.shape[0] < shape[0]:
                return extend_rows(found, shape[0])
            raise CheckpointError(self._tensors(entry["backbone"]).folder,
                                  f"{entry['source'] + rest} has shape {tuple(found.shape)}, the model's {key} {shape}")
        return None

    def trained_only(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` without the tensors equal to their backbone's (what ``save_pretrained`` writes)."""
        kept = {}
        for key, value in state.items():
            base = self.tensor_for(key, value.shape)
            if base is None or not torch.equal(base.to(value.dtype), value.detach().cpu()):
                kept[key] = value
        return kept

    def fill(self, model: torch.nn.Module, keys: Iterable[str]) -> list[str]:
        """Copy the backbone's tensors into ``model`` for ``keys``; returns the keys no backbone holds.

        The entries name the keys of the class that saved the folder (``model.vlm...`` for a
        ``...ForConditionalGeneration``); a base model loaded from it (``AutoModel``) has the same keys
        without its ``base_model_prefix``, which is put back to look them up."""
        state = model.state_dict(keep_vars=True)
        prefix = getattr(model, "base_model_prefix", "")
        bare = prefix and not any(k.startswith(prefix + ".") for k in state)
        left = []
        with torch.no_grad():
            for key in keys:
                target = state.get(key)
                name = f"{prefix}.{key}" if bare else key
                base = None if target is None else self.tensor_for(name, target.shape)
                if base is None:
                    left.append(key)
                else:
                    target.copy_(base.to(target.dtype))
        return left


def fill_before_init(model: torch.nn.Module) -> None:
    """During ``from_pretrained``, before transformers initialises at random every tensor the checkpoint lacked
    (those without its ``_is_hf_initialized`` flag, which it sets on each tensor it loads): copies the
    backbone's tensors into the ones ``config.backbone_weights`` maps and flags them, so that only what neither
    holds is drawn. A folder that references its backbone lacks those on purpose; drawing them was wasted work
    (a 135 M-parameter LLM at every load of an embedded model, minutes for a 7 B one)."""
    entries = getattr(model.config, "backbone_weights", None)
    if not entries:
        return
    state = model.state_dict(keep_vars=True)
    unset = [k for k, v in state.items() if not getattr(v, "_is_hf_initialized", False)]
    filled = set(unset) - set(BackboneSource(entries).fill(model, unset))
    for key in filled:
        state[key]._is_hf_initialized = True
    model._backbone_filled = filled


def keys_left_missing(model: torch.nn.Module, missing: Iterable[str]) -> list[str]:
    """After ``from_pretrained`` of a folder with ``backbone_weights``: the ``missing`` keys no backbone holds.
    :func:`fill_before_init` filled most; the rest (a tied head, which transformers flags as initialised, or
    everything if transformers skipped that step) are looked up now."""
    filled = model.__dict__.pop("_backbone_filled", set())
    left = sorted(k for k in missing if k not in filled)
    return BackboneSource(model.config.backbone_weights).fill(model, left) if left else []


def backbone_fields(config_name: str, backbone_weights: Any, lora: Any) -> tuple[list | None, dict | None]:
    """Validated ``(backbone_weights, lora)`` config values (``None`` when unused)."""
    entries = check_entries(backbone_weights, f"{config_name}.backbone_weights") or None
    if lora is not None and not (isinstance(lora, Mapping) and "target_modules" in lora and "r" in lora):
        raise SkeletonInputError(f"{config_name}.lora", "None or a LoRA dict with 'r' and 'target_modules'", lora)
    return entries, (dict(lora) if lora else None)


def saved_backbone_entries(folder: Path) -> list[dict[str, str]]:
    """The ``backbone_weights`` of a saved folder's config.json (``[]`` when absent or unreadable)."""
    try:
        data = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return []
    return data.get("backbone_weights") or [] if isinstance(data, dict) else []


@contextlib.contextmanager
def quiet_load_report(folder: Path):
    """transformers' load report lists every tensor a trained-parts folder leaves to its backbones as
    MISSING; those are filled right after, and the strict check reports what is really missing."""
    if not (folder.is_dir() and saved_backbone_entries(folder)):
        yield
        return
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def inject_lora(model: torch.nn.Module, lora: Mapping[str, Any] | None) -> None:
    """Add the LoRA layers ``lora`` (``LoraConfig.to_dict()``-style) describes to ``model``, in place,
    keeping every existing parameter's ``requires_grad`` (the new adapters train)."""
    if not lora:
        return
    from peft import LoraConfig, inject_adapter_in_model

    allowed = {"r", "lora_alpha", "lora_dropout", "target_modules", "bias", "use_rslora", "fan_in_fan_out"}
    options = {k: v for k, v in dict(lora).items() if k in allowed}
    if "target_modules" not in options:
        raise SkeletonInputError("lora.target_modules", "the module names or regex LoRA wraps", lora)
    if isinstance(options["target_modules"], list):
        options["target_modules"] = sorted(options["target_modules"])
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    inject_adapter_in_model(LoraConfig(**options), model)
    for name, param in model.named_parameters():
        param.requires_grad_(grads.get(name.replace(".base_layer.", "."), True) if "lora_" not in name else True)
        if "lora_" in name:  # peft's initialisation (B = 0: no change at first); an outer post_init keeps it
            param._is_hf_initialized = True


def unwrap_peft(model: Any) -> Any:
    """A PEFT-wrapped model -> the wrapped model with its LoRA layers left in place and recorded in
    ``config.lora`` (a reload rebuilds them), instead of ``merge_and_unload``: saved with
    ``config.backbone_weights`` the folder then holds the adapters, not merged copies of the base
    weights. Anything else is returned as it is."""
    if not hasattr(model, "peft_config") or not hasattr(model, "get_base_model"):
        return model
    base = model.get_base_model()
    base.config.lora = lora_dict(model.peft_config["default"])
    return base


def lora_dict(peft_config: Any) -> dict[str, Any]:
    """What ``config.lora`` stores of a ``peft.LoraConfig`` (JSON-safe)."""
    target = peft_config.target_modules
    return {"r": int(peft_config.r), "lora_alpha": peft_config.lora_alpha, "lora_dropout": peft_config.lora_dropout,
            "target_modules": target if isinstance(target, str) else sorted(target), "bias": peft_config.bias}


__all__ = ["BackboneSource", "backbone_fields", "extend_rows", "inject_lora", "lora_dict", "resolve_backbone", "saved_backbone_entries", "unwrap_peft"]
