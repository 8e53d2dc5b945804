"""Loading that fails loudly.

transformers initialises missing weights at random and only logs it: the most common complaint in
this field's issue trackers is a model whose weights silently did not load. Every hf_skeleton model
mixes in :class:`StrictLoadingMixin`, so a truncated or corrupted safetensors file, or a checkpoint
with missing, unexpected or mis-shaped tensors, raises :class:`~hf_skeleton.errors.CheckpointError`
naming the folder and the tensors.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CheckpointError, HFSkeletonError


def _weights_file(path: str | os.PathLike) -> str:
    folder = Path(path)
    for name in ("model.safetensors.index.json", "model.safetensors"):
        if (folder / name).exists():
            return str(folder / name)
    return str(folder)


def check_safetensors(path: str | os.PathLike) -> None:
    """Raise CheckpointError unless ``path`` is a complete safetensors file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                handle.get_slice(key)
    except Exception as err:  # safetensors raises its own Rust-side error types
        raise CheckpointError(path, f"not a readable safetensors file ({err})") from None
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        header_len = int.from_bytes(fh.read(8), "little")
    import json

    with open(path, "rb") as fh:
        fh.seek(8)
        header = json.loads(fh.read(header_len))
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + end != size:
        raise CheckpointError(path, f"truncated or padded: header says {8 + header_len + end} bytes, "
                                    f"file has {size}")


def check_config(config_class, folder: Path) -> None:
    """Raise CheckpointError naming ``folder/config.json`` unless it parses into ``config_class``."""
    import json

    path = folder / "config.json"
    if not path.is_file():
        raise CheckpointError(path, "missing: not a save_pretrained folder")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(path, f"not valid JSON ({err})") from None
    expected = getattr(config_class, "model_type", None)
    if expected and data.get("model_type") != expected:
        raise CheckpointError(path, f"field model_type: expected {expected!r}, found {data.get('model_type')!r}")
    try:
        config_class.from_dict(data)
    except CheckpointError as err:
        raise CheckpointError(path, str(err).split(": ", 1)[-1]) from None
    except (HFSkeletonError, ValueError, TypeError, KeyError) as err:
        raise CheckpointError(path, f"invalid config ({type(err).__name__}: {err})") from None


class SkeletonConfigMixin:
    """``from_dict`` (used by ``from_pretrained`` and AutoConfig) rejects a saved config that lacks a
    sub-config and turns untyped value errors into :class:`CheckpointError`.

    A missing sub-config would silently fall back to its default: for an LLM that means building a
    multi-billion-parameter model of the wrong shape before the weights fail to load.
    """

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        if "transformers_version" in config_dict:  # a saved config, not a user's partial dict
            defaults = cls().to_dict()
            missing = sorted(k for k in defaults if k.endswith("_config") and k not in config_dict)
            if missing:
                raise CheckpointError("config.json", f"missing fields {missing} for model type {cls.model_type!r}")
        try:
            return super().from_dict(config_dict, **kwargs)
        except HFSkeletonError:
            raise
        except (ValueError, TypeError, KeyError) as err:
            raise CheckpointError("config.json", f"invalid {cls.model_type} config "
                                                 f"({type(err).__name__}: {err})") from None


def check_processor_folder(folder: str | os.PathLike) -> None:
    """Raise CheckpointError unless a local processor folder holds its tokenizer files."""
    folder = Path(folder)
    if not folder.is_dir():
        return  # a Hub id: transformers resolves and reports it
    if not (folder / "tokenizer.json").is_file() and not (folder / "tokenizer_config.json").is_file():
        raise CheckpointError(folder, "no tokenizer (tokenizer.json / tokenizer_config.json): save the processor "
                                      "with processor.save_pretrained(folder), which writes its tokenizer too")


class ProcessorLoadingMixin:
    """``from_pretrained`` of our processors names the folder when its tokenizer is missing."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        check_processor_folder(pretrained_model_name_or_path)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)


class StrictLoadingMixin:
    """``from_pretrained`` that raises on corrupted files and on missing/unexpected/mismatched tensors.

    Pass ``strict=False`` to get transformers' lenient behaviour (e.g. to fine-tune a new head).
    """

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, strict: bool = True, **kwargs):
        local = Path(str(pretrained_model_name_or_path))
        if local.is_dir():
            single = local / "model.safetensors"
            if single.exists():
                check_safetensors(single)
            elif not (local / "model.safetensors.index.json").exists():
                raise CheckpointError(local, "no model.safetensors (or index) in the folder; hf_skeleton "
                                             "loads safetensors only")
            if "config" not in kwargs:
                check_config(cls.config_class, local)
        want_info = kwargs.pop("output_loading_info", False)
        try:
            model, info = super().from_pretrained(pretrained_model_name_or_path, *args,
                                                  output_loading_info=True, **kwargs)
        except CheckpointError:
            raise
        except Exception as err:
            if type(err).__name__ == "SafetensorError":
                raise CheckpointError(_weights_file(local), f"corrupted safetensors ({err})") from None
            raise
        if strict:
            ignore = tuple(getattr(cls, "_keys_to_ignore_on_load_missing", None) or ())
            missing = sorted(k for k in info.get("missing_keys", ()) if not any(p in k for p in ignore))
            # A backbone loaded from a head checkpoint (AutoModel on a ...ForConditionalGeneration folder)
            # legitimately leaves the head's tensors unused, as in transformers.
            saved_as = getattr(model.config, "architectures", None) or []
            same_class = not saved_as or cls.__name__ in saved_as
            unexpected = sorted(info.get("unexpected_keys", ())) if same_class else []
            mismatched = sorted(str(k) for k in info.get("mismatched_keys", ()))
            problems = []
            if missing:
                problems.append(f"missing tensors {missing[:8]}{' ...' if len(missing) > 8 else ''}")
            if unexpected:
                problems.append(f"unexpected tensors {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
            if mismatched:
                problems.append(f"tensors with the wrong shape {mismatched[:8]}")
            if problems:
                raise CheckpointError(_weights_file(local), "; ".join(problems) +
                                      " (pass strict=False to load anyway with random initialisation)")
        return (model, info) if want_info else model


class RemoteCodeMixin:
    """``save_pretrained`` also writes the model's code and an ``auto_map`` into the folder.

    Users with hf_skeleton installed load saved folders through the Auto classes with no
    ``trust_remote_code``; Hub users without the package load them with ``trust_remote_code=True``.
    ``remote_auto_class`` names the Auto class the model is registered under.
    """

    remote_auto_class: str = "AutoModel"

    def save_pretrained(self, save_directory, *args, **kwargs):
        from .remote_code import PACKAGE, write_remote_code

        cls = type(self)
        if cls.__module__.startswith(PACKAGE + "."):
            os.makedirs(save_directory, exist_ok=True)
            self.config.auto_map = write_remote_code(
                save_directory, {"AutoConfig": self.config_class, self.remote_auto_class: cls})
        return super().save_pretrained(save_directory, *args, **kwargs)


class SkeletonModelMixin(RemoteCodeMixin, StrictLoadingMixin):
    """What every hf_skeleton ``PreTrainedModel`` mixes in: strict loading and self-contained folders."""


class FormatConfigMixin:
    """For configs with a ``format`` field (a registered name or a format dict): the parsed format."""

    @property
    def skeleton_format(self):
        from .skeletons.formats import get_format

        return get_format(self.format)

    @property
    def num_joints(self) -> int:
        return self.skeleton_format.num_joints
