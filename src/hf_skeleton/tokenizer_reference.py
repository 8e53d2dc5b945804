"""A saved folder's tokenizer by reference to its backbone's (``tokenizer_reference.json``).

A model built on an installed backbone (SmolLM2) already ships only its trained tensors
(:mod:`hf_skeleton.backbone_weights`); its tokenizer is the backbone's plus a few special tokens, yet
``save_pretrained`` writes all 3.5 MB of it. :func:`write_tokenizer_reference` replaces a folder's
``tokenizer.json`` with what differs from the backbone's::

    {"backbone": "smollm2-135m-instruct",        # resolved like backbone_weights' entries
     "added_tokens": [{"id": 49152, "content": "<motion>", ...}, ...],   # appended to the backbone's
     "fields": {"padding": {...}},               # other top-level fields that differ (never "model")
     "sha256": "..."}                             # of the rebuilt tokenizer.json (canonical JSON)

and :func:`referenced_tokenizer` rebuilds the tokenizer at load (the processors' ``from_pretrained`` call it),
refusing one whose rebuilt file differs from the original (another backbone tokenizer, an edited
reference). The folder's ``tokenizer_config.json`` and chat template stay, so every other tokenizer
setting loads as saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import CheckpointError

REFERENCE_NAME = "tokenizer_reference.json"
TOKENIZER_FILE = "tokenizer.json"
# tokenizer files other than tokenizer.json that a saved folder may hold
_SIDE_FILES = ("tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "chat_template.json")


def _canonical_sha256(tokenizer: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(tokenizer, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CheckpointError(path, f"not readable JSON ({type(err).__name__}: {err})") from None


def _backbone_tokenizer(backbone: str, reference_path: Path) -> dict[str, Any]:
    from .backbone_weights import resolve_backbone

    path = resolve_backbone(backbone) / TOKENIZER_FILE
    if not path.is_file():
        raise CheckpointError(reference_path, f"its backbone {backbone!r} has no {TOKENIZER_FILE} ({path})")
    return _read_json(path)


def rebuilt_tokenizer_json(folder: str | os.PathLike) -> dict[str, Any]:
    """The ``tokenizer.json`` a folder's ``tokenizer_reference.json`` stands for, as a dict.

    Raises:
        CheckpointError: naming the reference file, when it is not the documented object, when its backbone
            cannot be resolved, or when the rebuilt tokenizer's SHA-256 is not the recorded one.
    """
    path = Path(folder) / REFERENCE_NAME
    ref = _read_json(path)
    if not (isinstance(ref, dict) and isinstance(ref.get("backbone"), str) and isinstance(ref.get("sha256"), str)
            and isinstance(ref.get("added_tokens"), list) and isinstance(ref.get("fields", {}), dict)
            and "model" not in ref.get("fields", {})
            and all(isinstance(t, dict) and isinstance(t.get("id"), int) and isinstance(t.get("content"), str)
                    for t in ref["added_tokens"])):
        raise CheckpointError(path, "expected {'backbone': str, 'added_tokens': [{'id': int, 'content': str, "
                                    "...}], 'fields': {name: value} (not 'model'), 'sha256': str}")
    tokenizer = _backbone_tokenizer(ref["backbone"], path)
    tokenizer.update(ref.get("fields", {}))
    tokenizer["added_tokens"] = list(tokenizer.get("added_tokens") or []) + ref["added_tokens"]
    if _canonical_sha256(tokenizer) != ref["sha256"]:
        raise CheckpointError(path, f"the tokenizer rebuilt from backbone {ref['backbone']!r} is not the one this "
                                    "folder was saved with (SHA-256 differs): the backbone's tokenizer changed, or "
                                    "the reference was edited")
    return tokenizer


def referenced_tokenizer(folder: str | os.PathLike, **kwargs: Any):
    """The tokenizer of a local folder that holds ``tokenizer_reference.json`` instead of ``tokenizer.json``
    (``None`` for any other folder or a Hub id: transformers loads those as usual). ``kwargs`` go to
    ``AutoTokenizer.from_pretrained``."""
    folder = Path(folder)
    if not folder.is_dir() or (folder / TOKENIZER_FILE).is_file() or not (folder / REFERENCE_NAME).is_file():
        return None
    from transformers import AutoTokenizer

    tokenizer = rebuilt_tokenizer_json(folder)
    with tempfile.TemporaryDirectory(prefix="hf_skeleton_tokenizer_") as tmp:
        for name in _SIDE_FILES:
            if (folder / name).is_file():
                shutil.copyfile(folder / name, Path(tmp) / name)
        (Path(tmp) / TOKENIZER_FILE).write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
        return AutoTokenizer.from_pretrained(tmp, **kwargs)


def write_tokenizer_reference(folder: str | os.PathLike, backbone: str) -> int:
    """Replace ``folder/tokenizer.json`` with a ``tokenizer_reference.json`` to ``backbone``'s tokenizer
    (a :func:`~hf_skeleton.backbones.backbone_path` name, folder or Hub id); returns the bytes saved.

    The reference is written (atomically) and read back through :func:`rebuilt_tokenizer_json` before the
    tokenizer file is removed, so no tokenizer is lost.

    Raises:
        CheckpointError: the folder's tokenizer model (vocabulary, merges) is not the backbone's, or its added
            tokens do not extend the backbone's; nothing is changed then.
    """
    folder = Path(folder)
    path = folder / TOKENIZER_FILE
    saved = _read_json(path)
    base = _backbone_tokenizer(backbone, folder / REFERENCE_NAME)
    base_added = list(base.get("added_tokens") or [])
    added = list(saved.get("added_tokens") or [])
    differ = sorted(k for k in set(saved) | set(base) if k != "added_tokens" and saved.get(k) != base.get(k))
    if "model" in differ or set(base) - set(saved) or added[: len(base_added)] != base_added:
        raise CheckpointError(path, f"not backbone {backbone!r}'s tokenizer with tokens added (its vocabulary, its "
                                    "fields or the backbone's added tokens differ); kept as it is")
    reference = {"backbone": backbone, "added_tokens": added[len(base_added):],
                 "fields": {k: saved[k] for k in differ}, "sha256": _canonical_sha256(saved)}
    tmp = folder / (REFERENCE_NAME + ".tmp")
    tmp.write_text(json.dumps(reference, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, folder / REFERENCE_NAME)
    try:
        rebuilt_tokenizer_json(folder)
    except CheckpointError:
        (folder / REFERENCE_NAME).unlink()
        raise
    size = path.stat().st_size - (folder / REFERENCE_NAME).stat().st_size
    path.unlink()
    return size


__all__ = ["REFERENCE_NAME", "rebuilt_tokenizer_json", "referenced_tokenizer", "write_tokenizer_reference"]
