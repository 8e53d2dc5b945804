"""Small checkpoints trained here on real data and shipped inside the package.

Each lives in ``hf_skeleton/embedded/<name>/`` as a plain ``save_pretrained`` folder (config,
safetensors weights, processor files, model card with its training command and measured results),
so ``pipeline(..., model=hs.embedded_model_path(name))`` works offline. Models built on an installed
backbone hold only their trained tensors (:mod:`hf_skeleton.backbone_weights`) and a
``tokenizer_reference.json`` instead of the backbone's 3.5 MB ``tokenizer.json``
(:mod:`hf_skeleton.tokenizer_reference`); both resolve through ``hs.backbone_path`` at load.
"""

from __future__ import annotations

from pathlib import Path

from .errors import HFSkeletonError, NoDefaultModelError

EMBEDDED_ROOT = Path(__file__).resolve().parent / "embedded"

# The default model of each pipeline task, by preference.
DEFAULTS = {
    "skeleton-understanding": ("llamo-nucla", "skeleton-llm-nucla"),  # best measured first
    "skeleton-generation": ("superman-cmu",),
}


def list_embedded_models() -> list[str]:
    """Names of the shipped checkpoints (folders with a config.json)."""
    if not EMBEDDED_ROOT.is_dir():
        return []
    return sorted(p.name for p in EMBEDDED_ROOT.iterdir() if (p / "config.json").is_file())


def embedded_model_path(name: str) -> str:
    """The folder of a shipped checkpoint, for ``from_pretrained`` or ``pipeline(model=...)``."""
    folder = EMBEDDED_ROOT / name
    if not (folder / "config.json").is_file():
        raise HFSkeletonError(f"no embedded model named {name!r}; available: {list_embedded_models()}")
    return str(folder)


def resolve_model(name_or_path: str) -> str:
    """A local folder as given, an embedded model's name as its folder; anything else is returned
    unchanged (a Hub id, which transformers resolves)."""
    if Path(name_or_path).is_dir() or name_or_path not in list_embedded_models():
        return name_or_path
    return embedded_model_path(name_or_path)


_HOW_TO_GET_ONE = {
    "skeleton-generation": "pass model= a saved Superman folder (train one with `hf-skeleton train superman "
                           "--out runs/superman`, then model='runs/superman/unified')",
    "skeleton-understanding": "pass model= a saved SkeletonLLM or LLaMo folder (e.g. `hf-skeleton train llamo "
                              "--output-dir runs/llamo --export-dir llamo-nucla`)",
}


def default_model_for(task: str) -> str:
    """The embedded folder a pipeline of ``task`` loads when no model is given; raises
    :class:`~hf_skeleton.errors.NoDefaultModelError` saying what to pass when none is installed."""
    available = set(list_embedded_models())
    for name in DEFAULTS.get(task, ()):
        if name in available:
            return embedded_model_path(name)
    looked = f"looked for {list(DEFAULTS.get(task, ()))}, installed: {sorted(available)}"
    raise NoDefaultModelError(task, f"{_HOW_TO_GET_ONE.get(task, 'pass model=')} ({looked})")
