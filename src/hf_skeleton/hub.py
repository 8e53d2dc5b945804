"""Publishing saved folders to the Hugging Face Hub with their card.

``push_folder`` checks what would be uploaded (config, safetensors weights, processor files, the
card), renders the card if it is missing, then uploads. Every model and processor also keeps
transformers' inherited ``push_to_hub``.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from .errors import CheckpointError, HFSkeletonError
from .modeling_utils import verify_weights

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
_FORBIDDEN_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class HubUnavailableError(HFSkeletonError, ConnectionError):
    """The Hub cannot be reached (offline mode, no network, no credentials)."""


@contextmanager
def _hub_errors(what: str):
    """An offline Hub or a network failure during an upload as one line: :class:`HubUnavailableError`."""
    from huggingface_hub.errors import OfflineModeIsEnabled

    try:
        yield
    except OfflineModeIsEnabled as err:
        raise HubUnavailableError(f"cannot push {what}: the Hub is offline here (HF_HUB_OFFLINE is set): "
                                  f"{err}") from None
    except (OSError, ConnectionError) as err:
        raise HubUnavailableError(f"cannot push {what}: {type(err).__name__}: {err}") from None


# what a training recipe keeps in its output folder for --resume (training/recipe_progress.py) and its caches of
# generated text: a run's state, not the model, so never published
TRAINING_STATE_DIRS = ("phases", "runs")
TRAINING_STATE_FILES = ("recipe_state.json", "recipe_state.json.tmp", "rationales.jsonl", "descriptions.jsonl")


def _training_state(relative: Path) -> bool:
    return relative.parts[0] in TRAINING_STATE_DIRS if len(relative.parts) > 1 else relative.name in TRAINING_STATE_FILES


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
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                   and not _training_state(p.relative_to(folder)))
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

    from .cards import write_model_card

    folder = Path(folder)
    files = files_to_push(folder)
    if not (folder / "README.md").is_file():
        write_model_card(folder, repo_id=repo_id)
        files = sorted(set(files) | {"README.md"})
    api = HfApi(token=token)
    with _hub_errors(f"{folder} to {repo_id}"):
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=commit_message,
                                 allow_patterns=files)  # exactly what files_to_push (and --dry-run) lists
    return str(getattr(info, "commit_url", info))


def dataset_files_to_push(folder: str | Path) -> list[str]:
    """The relative paths :func:`push_dataset_folder` would upload: the card (``README.md``) and every data
    file its ``configs`` list, after checking the folder is a complete conversion whose card metadata passes
    the offline Hub checks (:func:`~hf_skeleton.cards.check_card_metadata`). Other files in the folder (raw
    clips, notes, the conversion's lock) are not uploaded.

    Raises:
        SkeletonFileError: not a folder, no card, a card without configs, a listed data file missing, a
            data file outside the folder or pickle-based, card metadata the Hub would reject.
    """
    from .cards import validate_card_metadata
    from .dataset_tools.card import CARD_NAME, read_card_configs
    from .errors import SkeletonFileError

    folder = Path(folder)
    if not folder.is_dir():
        raise SkeletonFileError(folder, None, "a folder converted by hf-skeleton convert", "not a folder")
    card = folder / CARD_NAME
    configs = read_card_configs(folder)  # a typed error without a card or configs
    validate_card_metadata(card, "dataset", source=card)
    root = folder.resolve()
    files = {CARD_NAME}
    for config, splits in configs.items():
        for split, paths in splits.items():
            for path in paths:
                resolved, field = Path(path).resolve(), f"configs[{config}].data_files[{split}]"
                if not resolved.is_relative_to(root):
                    raise SkeletonFileError(card, field, "data files inside the dataset folder", path)
                rel = Path(path).absolute().relative_to(folder.absolute()).as_posix()
                if not resolved.is_file():
                    raise SkeletonFileError(card, field, "data files that exist", f"{rel}: no such file")
                if resolved.name.endswith(_FORBIDDEN_SUFFIXES):
                    raise SkeletonFileError(card, field, "parquet data files (pickle-based files are not "
                                            "published)", rel)
                files.add(rel)
    return sorted(files)


def push_dataset_folder(folder: str | Path, repo_id: str, *, private: bool = False, token: str | None = None,
                        commit_message: str = "Upload dataset with hf_skeleton") -> str:
    """Create the dataset repository ``repo_id`` (if needed) and upload exactly
    :func:`dataset_files_to_push` in one commit; return the commit URL."""
    from huggingface_hub import CommitOperationAdd, HfApi

    folder = Path(folder)
    files = dataset_files_to_push(folder)
    api = HfApi(token=token)
    with _hub_errors(f"dataset {folder} to {repo_id}"):
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.create_commit(repo_id, repo_type="dataset", commit_message=commit_message,
                                 operations=[CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
                                             for name in files])
    return str(getattr(info, "commit_url", info))
