"""Loading that fails loudly.

transformers initialises missing weights at random and only logs it: the most common complaint in
this field's issue trackers is a model whose weights silently did not load. Every hf_skeleton model
mixes in :class:`StrictLoadingMixin`, so a truncated or corrupted safetensors file, a checkpoint
with missing, unexpected or mis-shaped tensors, NaN/Inf weights, or bytes that differ from the
checksum manifest ``save_pretrained`` wrote (:data:`MANIFEST_NAME`) raise
:class:`~hf_skeleton.errors.CheckpointError` naming the file and the tensor. Pickle-based weights
(``.bin``) are never loaded.

The manifest (``model.safetensors.sha256.json``)::

    {"format": "hf_skeleton.safetensors-sha256/1",
     "files": {"model.safetensors": {"size": 1308805, "header_sha256": "<hex>",
                                     "tensors": {"<name>": {"dtype": "F32", "shape": [16, 3],
                                                            "sha256": "<hex of the raw bytes>"}}}}}

``header_sha256`` covers the JSON header (offsets, dtypes, shapes, metadata), each tensor's digest its
bytes, so every byte of the file is pinned. A folder without a manifest (older saves, third-party)
still loads, with every other check.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from pathlib import Path

from .backbone_weights import BackboneSource, fill_before_init, keys_left_missing, quiet_load_report
from .errors import CheckpointError, HFSkeletonError

MANIFEST_NAME = "model.safetensors.sha256.json"
MANIFEST_FORMAT = "hf_skeleton.safetensors-sha256/1"
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
# dtype -> (unsigned view, bits, value of those bits meaning NaN/Inf): all exponent bits set
_NON_FINITE = {"F64": ("<u8", 0x7FF0000000000000, 0x7FF0000000000000), "F32": ("<u4", 0x7F800000, 0x7F800000),
               "F16": ("<u2", 0x7C00, 0x7C00), "BF16": ("<u2", 0x7F80, 0x7F80),
               "F8_E5M2": ("u1", 0x7C, 0x7C), "F8_E4M3": ("u1", 0x7F, 0x7F)}
_INTEGER_DTYPES = {"I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL"}
_CHUNK = 1 << 24  # bytes read at once: memory stays bounded whatever the tensor size


def _weights_file(path: str | os.PathLike) -> str:
    folder = Path(path)
    for name in ("model.safetensors.index.json", "model.safetensors"):
        if (folder / name).exists():
            return str(folder / name)
    return str(folder)


def _read_header(path: Path) -> tuple[bytes, dict]:
    """The raw JSON header of a safetensors file and its parsed tensors (``__metadata__`` left out)."""
    try:
        with open(path, "rb") as fh:
            length = int.from_bytes(fh.read(8), "little")
            if length > os.path.getsize(path) - 8:
                raise ValueError(f"header length {length} beyond the end of the file")
            raw = fh.read(length)
        header = json.loads(raw)
        tensors = {k: v for k, v in header.items() if k != "__metadata__"}
        for info in tensors.values():
            int(info["data_offsets"][1]), str(info["dtype"]), list(info["shape"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(path, f"not a readable safetensors file ({type(err).__name__}: {err})") from None
    return raw, tensors


def check_safetensors(path: str | os.PathLike) -> None:
    """Raise CheckpointError unless ``path`` is a complete safetensors file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            for key in handle.keys():
                handle.get_slice(key)
    except Exception as err:  # safetensors raises its own Rust-side error types
        text = " ".join(str(err).split())
        raise CheckpointError(path, f"not a readable safetensors file ({text})") from None
    raw, tensors = _read_header(Path(path))
    size = os.path.getsize(path)
    end = max((v["data_offsets"][1] for v in tensors.values()), default=0)
    if 8 + len(raw) + end != size:
        raise CheckpointError(path, f"truncated or padded: header says {8 + len(raw) + end} bytes, "
                                    f"file has {size}")


def weight_files(folder: str | os.PathLike) -> list[Path]:
    """The safetensors files ``from_pretrained`` reads from ``folder`` (one file, or the index's shards).

    Raises:
        CheckpointError: no safetensors weights (naming any pickle-based file found instead), an
            unreadable index, or a shard the index names that is missing.
    """
    folder = Path(folder)
    if (folder / "model.safetensors").is_file():
        return [folder / "model.safetensors"]
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise CheckpointError(index, f"not a valid safetensors index ({type(err).__name__}: {err})") from None
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing or not shards:
            raise CheckpointError(index, f"names shards that are not in the folder: {missing}")
        return [folder / s for s in shards]
    pickles = sorted(p.name for p in folder.glob("*") if p.suffix in _PICKLE_SUFFIXES)
    found = f"; found only pickle-based weights {pickles}, which are never loaded" if pickles else ""
    raise CheckpointError(folder, f"no model.safetensors (or index) in the folder{found}; hf_skeleton "
                                  "loads safetensors only")


def _scan_one(path: Path, start: int, name: str, info: dict, digests: bool) -> tuple[str, str | None, bool]:
    import numpy as np

    begin, end = info["data_offsets"]
    digest = hashlib.sha256() if digests else None
    kind = _NON_FINITE.get(info["dtype"])
    finite, left = True, end - begin
    buf = memoryview(bytearray(min(left, _CHUNK)))
    with open(path, "rb") as fh:
        fh.seek(start + begin)
        while left > 0:
            n = fh.readinto(buf[:min(left, _CHUNK)])
            if not n:
                raise CheckpointError(path, f"tensor {name}: the file ends inside its data")
            if digest is not None:
                digest.update(buf[:n])
            if kind is not None and finite:
                words = np.frombuffer(buf[:n - n % np.dtype(kind[0]).itemsize], kind[0])
                finite = not bool(np.any((words & kind[1]) == kind[2]))
            left -= n
    return name, (digest.hexdigest() if digest is not None else None), finite


def _scan(path: Path, raw: bytes, tensors: dict, digests: bool) -> list[tuple[str, str | None, bool]]:
    """Each tensor's (name, sha256 of its bytes or None, whether a floating tensor is all finite), in
    file order; tensors are read in bounded chunks, several at once (hashlib and numpy release the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    order = sorted(tensors, key=lambda name: tensors[name]["data_offsets"][0])
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(lambda name: _scan_one(path, 8 + len(raw), name, tensors[name], digests), order))


def write_checksums(folder: str | os.PathLike) -> Path | None:
    """Write :data:`MANIFEST_NAME` for the safetensors weights in ``folder`` (what ``save_pretrained``
    calls); returns its path, or None when the folder holds no safetensors weights."""
    folder = Path(folder)
    try:
        files = weight_files(folder)
    except CheckpointError:
        return None
    entries = {}
    for path in files:
        raw, tensors = _read_header(path)
        digests = {name: digest for name, digest, _ in _scan(path, raw, tensors, digests=True)}
        entries[path.name] = {"size": os.path.getsize(path), "header_sha256": hashlib.sha256(raw).hexdigest(),
                              "tensors": {name: {"dtype": info["dtype"], "shape": list(info["shape"]),
                                                 "sha256": digests[name]} for name, info in sorted(tensors.items())}}
    target = folder / MANIFEST_NAME
    tmp = folder / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"format": MANIFEST_FORMAT, "files": entries}, indent=1, sort_keys=True))
    os.replace(tmp, target)
    return target


def _read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
        if manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
        for entry in manifest["files"].values():
            str(entry["header_sha256"]), int(entry["size"])
            for info in entry["tensors"].values():
                str(info["dtype"]), list(info["shape"]), str(info["sha256"])
        return manifest
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(path, f"not a valid checksum manifest ({type(err).__name__}: {err})") from None


def _compare_header(path: Path, tensors: dict, listed: dict) -> None:
    missing, unexpected = sorted(set(listed) - set(tensors)), sorted(set(tensors) - set(listed))
    if missing or unexpected:
        what = [f"missing tensors {missing[:8]}"] if missing else []
        what += [f"unexpected tensors {unexpected[:8]}"] if unexpected else []
        raise CheckpointError(path, f"{'; '.join(what)} (compared with {MANIFEST_NAME})")
    for name, info in tensors.items():
        for field in ("dtype", "shape"):
            found, saved = info[field], listed[name][field]
            if (list(found) != list(saved)) if field == "shape" else (found != saved):
                raise CheckpointError(path, f"tensor {name}: {field} {found} in the file, {saved} when saved "
                                            f"({MANIFEST_NAME}): the header was changed")


def verify_weights(folder: str | os.PathLike) -> None:
    """Raise CheckpointError naming the file and the tensor unless every safetensors file of ``folder``
    is complete, matches :data:`MANIFEST_NAME` byte for byte (when the folder has one), and holds
    only finite values in its floating tensors."""
    folder = Path(folder)
    files = weight_files(folder)
    manifest = _read_manifest(folder)
    listed = (manifest or {}).get("files", {})
    if manifest is not None:
        names = {p.name for p in files}
        stray = sorted(names - set(listed)) + sorted(n for n in set(listed) - names if not (folder / n).is_file())
        if stray:
            raise CheckpointError(folder / MANIFEST_NAME, f"does not match the weight files: {stray}")
    for path in files:
        check_safetensors(path)
        raw, tensors = _read_header(path)
        entry = listed.get(path.name)
        if entry is not None:
            _compare_header(path, tensors, entry["tensors"])
        owners: dict[str, list[str]] = {}  # digest -> the tensors saved with those bytes
        for name, info in sorted((entry or {}).get("tensors", {}).items()):
            owners.setdefault(info["sha256"], []).append(name)
        for name, digest, finite in _scan(path, raw, tensors, digests=entry is not None):
            if entry is not None and digest != entry["tensors"][name]["sha256"]:
                same = [o for o in owners.get(digest, []) if entry["tensors"][o]["shape"] == tensors[name]["shape"]]
                hint = f" (it holds the bytes of tensor {', '.join(same[:3])}: offsets swapped)" if same else ""
                raise CheckpointError(path, f"tensor {name}: its bytes differ from the sha256 in {MANIFEST_NAME}"
                                            f"{hint}; the file is damaged or was changed after saving")
            if not finite:
                raise CheckpointError(path, f"tensor {name}: non-finite values (NaN or Inf) in a "
                                            f"{tensors[name]['dtype']} tensor")
        if entry is not None and hashlib.sha256(raw).hexdigest() != entry["header_sha256"]:
            raise CheckpointError(path, f"header differs from {MANIFEST_NAME} (metadata or layout changed)")


def check_config(config_class, folder: Path) -> None:
    """Raise CheckpointError naming ``folder/config.json`` unless it parses into ``config_class``."""
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
        raise CheckpointError(path, f"invalid config ({type(err).__name__}: {' '.join(str(err).split())})") from None


class SkeletonConfigMixin:
    """``from_dict`` (used by ``from_pretrained`` and AutoConfig) rejects a saved config that lacks a
    field and turns untyped value errors into :class:`CheckpointError`.

    A saved config (one with ``transformers_version``) must state every argument of the class's own
    ``__init__`` (recursively for sub-configs of this package): a missing field would silently fall
    back to its default and change the outputs (GroupNorm groups, attention heads), and a missing
    sub-config would build a model of the wrong shape before the weights fail to load. Fields a
    class lists in ``optional_config_fields`` (added after checkpoints were saved, with a default
    that reproduces the old behaviour) may be absent.
    """

    optional_config_fields: tuple[str, ...] = ()

    @classmethod
    def saved_config_fields(cls) -> list[str]:
        """The fields a saved config of this class must contain."""
        cache = cls.__dict__.get("_saved_fields_cache")
        if cache is None:
            import inspect

            from transformers import PretrainedConfig

            inherited = set(PretrainedConfig().to_dict())  # transformers' own fields: its defaults apply
            present = set(cls().to_dict())  # only what the class stores can be saved
            cache = [n for n, p in inspect.signature(cls.__init__).parameters.items()
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "self"
                     and n in present and n not in inherited and n not in cls.optional_config_fields]
            cls._saved_fields_cache = cache
        return cache

    @classmethod
    def missing_saved_fields(cls, config_dict: dict, prefix: str = "") -> list[str]:
        missing = [prefix + n for n in cls.saved_config_fields() if n not in config_dict]
        for name, sub in (getattr(cls, "sub_configs", None) or {}).items():
            if isinstance(sub, type) and issubclass(sub, SkeletonConfigMixin) and isinstance(config_dict.get(name), dict):
                missing += sub.missing_saved_fields(config_dict[name], f"{prefix}{name}.")
        return missing

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        folder = kwargs.get("name_or_path")
        source = Path(folder) / "config.json" if folder and Path(str(folder)).is_dir() else "config.json"
        if "transformers_version" in config_dict:  # a saved config, not a user's partial dict
            missing = cls.missing_saved_fields(config_dict)
            if missing:
                raise CheckpointError(source, f"missing fields {missing} for model type {cls.model_type!r}: a "
                                              "saved config states every field (a default could silently "
                                              "change the model's outputs)")
        try:
            return super().from_dict(config_dict, **kwargs)
        except HFSkeletonError:
            raise
        except (ValueError, TypeError, KeyError) as err:
            raise CheckpointError(source, f"invalid {cls.model_type} config ({type(err).__name__}: "
                                          f"{' '.join(str(err).split())})") from None


def check_processor_folder(folder: str | os.PathLike) -> None:
    """Raise CheckpointError unless a local processor folder holds its tokenizer files."""
    folder = Path(folder)
    if not folder.is_dir():
        return  # a Hub id: transformers resolves and reports it
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json",
                                                        "tokenizer_reference.json")):
        raise CheckpointError(folder, "no tokenizer (tokenizer.json / tokenizer_config.json): save the processor "
                                      "with processor.save_pretrained(folder), which writes its tokenizer too")


class ProcessorLoadingMixin:
    """``from_pretrained`` of our processors names the folder when its tokenizer is missing."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        check_processor_folder(pretrained_model_name_or_path)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)


_recording = threading.local()


@contextlib.contextmanager
def recorded_load_errors():
    """Within the block, the typed errors our ``from_pretrained`` raises in this thread are also
    appended to the yielded list: transformers' ``pipeline()`` catches them and raises an untyped
    ValueError instead, so :mod:`hf_skeleton.pipelines.typed_loading` re-raises the recorded one."""
    errors: list[HFSkeletonError] = []
    previous, _recording.errors = getattr(_recording, "errors", None), errors
    try:
        yield errors
    finally:
        _recording.errors = previous


def _shape_text(item, folder: Path) -> str:
    """``(name, shape in the file, shape the model expects)`` as text, the name as the file spells it
    (a base model loaded from a head checkpoint drops the prefix)."""
    if not (isinstance(item, (tuple, list)) and len(item) == 3):
        return str(item)
    name, found, expected = item
    try:
        saved = [k for path in weight_files(folder) for k in _read_header(path)[1]] if folder.is_dir() else []
    except CheckpointError:
        saved = []
    name = name if name in saved or not saved else next((k for k in saved if k.endswith("." + name)), name)
    return f"{name} has shape {tuple(found)} in the file, the model expects {tuple(expected)}"


def _integers_into_floats(model, folder: Path) -> str:
    """Integer tensors of the file loaded into floating parameters (a header's dtype edited, F32 ->
    I32, turns weights into values near 1e9 that transformers casts silently)."""
    if not folder.is_dir():
        return ""
    state, found = model.state_dict(), []
    for path in weight_files(folder):
        for name, info in _read_header(path)[1].items():
            target = state.get(name, state.get(name.split(".", 1)[-1]))
            if info["dtype"] in _INTEGER_DTYPES and target is not None and target.is_floating_point():
                found.append(f"{name} is {info['dtype']} in the file, a floating parameter in the model")
    return f"integer tensors for floating weights: {'; '.join(found[:8])}" if found else ""


class StrictLoadingMixin:
    """``from_pretrained`` that raises on corrupted files, checksum mismatches, NaN/Inf weights,
    pickle-based weights and missing/unexpected/mismatched tensors; ``save_pretrained`` that writes
    the checksum manifest (:data:`MANIFEST_NAME`) beside the weights.

    Pass ``strict=False`` to load with missing or unexpected tensors anyway (e.g. to fine-tune a new
    head), and also ``ignore_mismatched_sizes=True`` to re-initialise tensors of another shape.
    """

    def _initialize_missing_keys(self, is_quantized):  # transformers' step between loading and random init
        fill_before_init(self)
        super()._initialize_missing_keys(is_quantized)

    def save_pretrained(self, save_directory, *args, **kwargs):
        entries = getattr(self.config, "backbone_weights", None)
        if entries and kwargs.get("state_dict") is None:  # ship what was trained, not the backbones
            kwargs["state_dict"] = BackboneSource(entries).trained_only(self.state_dict())
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            write_checksums(save_directory)
        return result

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, strict: bool = True, **kwargs):
        try:
            return cls._strict_from_pretrained(pretrained_model_name_or_path, *args, strict=strict, **kwargs)
        except HFSkeletonError as err:
            recorded = getattr(_recording, "errors", None)
            if recorded is not None:
                recorded.append(err)
            raise

    @classmethod
    def _strict_from_pretrained(cls, pretrained_model_name_or_path, *args, strict: bool = True, **kwargs):
        local = Path(str(pretrained_model_name_or_path))
        if kwargs.get("use_safetensors") is False:
            raise CheckpointError(local, "use_safetensors=False: hf_skeleton loads safetensors only (a .bin is "
                                         "a pickle, weights-only or not)")
        kwargs["use_safetensors"] = True  # a Hub repository's .bin is never a fallback either
        if local.is_dir():
            if "config" not in kwargs:
                check_config(cls.config_class, local)
            verify_weights(local)
        want_info = kwargs.pop("output_loading_info", False)
        allow_mismatch = kwargs.pop("ignore_mismatched_sizes", False) and not strict
        try:
            with quiet_load_report(local):
                model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True,
                                                      ignore_mismatched_sizes=True, **kwargs)
        except CheckpointError:
            raise
        except Exception as err:
            if type(err).__name__ == "SafetensorError":
                raise CheckpointError(_weights_file(local), f"corrupted safetensors ({' '.join(str(err).split())})") from None
            raise
        if getattr(model.config, "backbone_weights", None):  # the backbones hold what the folder lacks
            info["missing_keys"] = keys_left_missing(model, info.get("missing_keys", ()))
        problems = []
        if strict:
            ignore = tuple(getattr(cls, "_keys_to_ignore_on_load_missing", None) or ())
            missing = sorted(k for k in info.get("missing_keys", ()) if not any(p in k for p in ignore))
            # A backbone loaded from a head checkpoint (AutoModel on a ...ForConditionalGeneration folder)
            # legitimately leaves the head's tensors unused, as in transformers.
            saved_as = getattr(model.config, "architectures", None) or []
            same_class = not saved_as or cls.__name__ in saved_as
            unexpected = sorted(info.get("unexpected_keys", ())) if same_class else []
            if missing:
                problems.append(f"missing tensors {missing[:8]}{' ...' if len(missing) > 8 else ''}")
            if unexpected:
                problems.append(f"unexpected tensors {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
        mismatched = sorted(_shape_text(k, local) for k in info.get("mismatched_keys", ()))
        if mismatched and not allow_mismatch:
            problems.append(f"tensors with the wrong shape: {'; '.join(mismatched[:8])}")
        if problems:
            raise CheckpointError(_weights_file(local), "; ".join(problems) + " (pass strict=False, and "
                                  "ignore_mismatched_sizes=True for shapes, to load anyway with random initialisation)")
        retyped = _integers_into_floats(model, local)
        if retyped:  # damage, whatever strict says
            raise CheckpointError(_weights_file(local), retyped)
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
