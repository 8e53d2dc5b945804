"""Publishing saved folders to the Hugging Face Hub with their card.

``push_folder`` checks what would be uploaded (config, safetensors weights, processor files, the
card), renders the card if it is missing, then uploads. Every model and processor also keeps
transformers' inherited ``push_to_hub``.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import CheckpointError, HFSkeletonError
from .modeling_utils import verify_weights

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
_FORBIDDEN_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class HubUnavailableError(HFSkeletonError, ConnectionError):
    """The Hub cannot be reached (offline mode, no network, no credentials)."""


def files_to_push(folder: str | Path) -> list[str]:
    """The relative paths ``push_folder`` would upload, after checking the folder is complete.

    Raises:
        CheckpointError: no config.json, no safetensors weights, a pickle-based weight file, weights
            that fail :func:`~hf_skeleton.modeling_utils.verify_weights` (damaged, changed since their
            checksum manifest was written, NaN/Inf), or an ``auto_map`` entry naming a module file that
            is not in the folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(folder, "not a folder")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CheckpointError(folder, "no config.json: not a saved model folder")
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not any(name in files for name in _WEIGHT_FILES):
        raise CheckpointError(folder, f"no weights: expected one of {_WEIGHT_FILES}")
    pickles = [f for f in files if f.endswith(_FORBIDDEN_SUFFIXES)]
    if pickles:
        raise CheckpointError(folder, f"pickle-based files are not published: {pickles}")
    verify_weights(folder)  # damaged weights are never published
    config = json.loads(config_path.read_text())
    for target in (config.get("auto_map") or {}).values():
        refs = target if isinstance(target, list) else [target]
        for ref in refs:
            if ref and "--" not in ref:  # "module.Class" must ship as module.py
                module_file = ref.rsplit(".", 1)[0] + ".py"
                if module_file not in files:
                    raise CheckpointError(folder, f"auto_map names {ref!r} but {module_file} is missing")
    return files


def push_folder(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None,
                commit_message: str = "Upload with hf_skeleton") -> str:
    """Upload a saved model folder (with its card, rendered if absent) to ``repo_id``; return its URL."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import OfflineModeIsEnabled

    from .cards import write_model_card

    folder = Path(folder)
    files_to_push(folder)
    if not (folder / "README.md").is_file():
        write_model_card(folder, repo_id=repo_id)
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=commit_message,
                                 ignore_patterns=[".*"])
    except OfflineModeIsEnabled as err:
        raise HubUnavailableError(f"cannot push {folder} to {repo_id}: the Hub is offline here "
                                  f"(HF_HUB_OFFLINE is set): {err}") from None
    except (OSError, ConnectionError) as err:
        raise HubUnavailableError(f"cannot push {folder} to {repo_id}: {type(err).__name__}: {err}") from None
    return str(getattr(info, "commit_url", info))
