"""Writing skeleton recordings: a registry of writers (mirroring the readers') and :func:`save_skeleton`.

A writer is ``writer_fn(seq, path, **options)`` that writes exactly ``path``, registered for file
extensions. :func:`save_skeleton` picks it from the extension (or ``format=``), has it write a temporary
file beside the target and moves that into place (``os.replace``), so a failed write never leaves a
half-written file, and refuses to replace an existing file unless ``overwrite=True``.
"""

from __future__ import annotations

import inspect
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SkeletonFileError, SkeletonInputError
from .sequence import SkeletonSequence

WriterFn = Callable[..., Any]


@dataclass(frozen=True)
class WriterSpec:
    """A registered writer: its name, the extensions it claims, its function."""

    name: str
    extensions: tuple[str, ...]
    fn: WriterFn
    description: str = ""

    def options(self) -> list[str] | None:
        """Keyword options of the writer function (None when it takes ``**kwargs``)."""
        try:
            params = list(inspect.signature(self.fn).parameters.values())[2:]
        except (TypeError, ValueError):
            return None
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


_WRITERS: dict[str, WriterSpec] = {}
_BUILTINS_LOADED = False


def _normalise_extension(ext: str) -> str:
    ext = str(ext).strip().lower()
    return ext if ext.startswith(".") else "." + ext


def register_writer(name: str, extensions: str | tuple[str, ...] | list[str], writer_fn: WriterFn, *,
                    description: str = "", overwrite: bool = False) -> WriterSpec:
    """Register ``writer_fn(seq, path, **options)`` for ``extensions``; where several writers claim one,
    the most recently registered is used unless ``save_skeleton(format=...)`` names another."""
    if not isinstance(name, str) or not name:
        raise SkeletonInputError("name", "a non-empty writer name", name)
    if not callable(writer_fn):
        raise SkeletonInputError("writer_fn", "a callable (seq, path, **options)", writer_fn)
    exts = (extensions,) if isinstance(extensions, str) else tuple(extensions)
    if not exts:
        raise SkeletonInputError("extensions", "at least one extension such as '.bvh'", extensions)
    if name in _WRITERS and not overwrite and _WRITERS[name].fn is not writer_fn:
        raise SkeletonInputError("name", f"a writer name not yet registered (pass overwrite=True to replace "
                                         f"{name!r})", name)
    spec = WriterSpec(name, tuple(_normalise_extension(e) for e in exts), writer_fn, description)
    _WRITERS[name] = spec
    return spec


def _ensure_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        from .writers import register_builtin_writers

        register_builtin_writers()


def list_writers() -> dict[str, tuple[str, ...]]:
    """Writer name -> the extensions it writes."""
    _ensure_builtins()
    return {name: spec.extensions for name, spec in _WRITERS.items()}


def writer_for(path: str | Path, format: str | None = None) -> WriterSpec:
    """The writer :func:`save_skeleton` would use for ``path`` (``format=`` names one)."""
    _ensure_builtins()
    if format is not None:
        if format not in _WRITERS:
            raise SkeletonInputError("format", f"a writer name, one of {sorted(_WRITERS)}", format)
        return _WRITERS[format]
    suffix = Path(path).suffix.lower()
    for spec in reversed(list(_WRITERS.values())):
        if suffix in spec.extensions:
            return spec
    known = sorted({e for s in _WRITERS.values() for e in s.extensions})
    raise SkeletonFileError(path, "extension", f"one of {known} (or format= naming a writer: {sorted(_WRITERS)})",
                            suffix or "no extension")


def save_skeleton(seq: SkeletonSequence, path: str | Path, format: str | None = None, *, overwrite: bool = False,
                  **options: Any) -> Path:
    """Write ``seq`` to ``path`` in the format its extension names.

    Args:
        seq: the clip.
        path: ``.bvh`` (any sequence), ``.npy`` (HumanML3D 263-dim vectors, smpl22), ``.skeleton``
            (NTU, kinect_v2), ``.npz`` (positions, mask, fps, format; any sequence). See
            :func:`list_writers`.
        format: a writer name, overriding the extension.
        overwrite: replace an existing file (otherwise that is an error).
        **options: passed to the writer (``person=``, ``exact=``, ``faithful=``, ...).

    Returns:
        The path written.

    Raises:
        SkeletonFileError: unknown extension, an existing file without ``overwrite=True``, a folder that
            does not exist. SkeletonInputError: a sequence the format cannot hold, unknown options.
    """
    if not isinstance(seq, SkeletonSequence):
        raise SkeletonInputError("seq", "a SkeletonSequence", type(seq).__name__)
    path = Path(path)
    spec = writer_for(path, format)
    options_known = spec.options()
    unknown = sorted(set(options) - set(options_known)) if options_known is not None else []
    if unknown:
        raise SkeletonInputError(f"save_skeleton(**options) for writer {spec.name!r}",
                                 f"options among {options_known}", unknown)
    if path.is_dir():
        raise SkeletonFileError(path, None, "a file path to write", "a folder")
    if not path.parent.is_dir():
        raise SkeletonFileError(path, None, "a path in an existing folder", f"no folder {path.parent}")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise SkeletonFileError(path, None, "a path with no file yet (pass overwrite=True, or --overwrite, to replace it)",
                                "an existing file")
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        spec.fn(seq, tmp, **options)
        if overwrite:
            os.replace(tmp, path)
        else:  # a hard link never replaces a file that appeared meanwhile
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise SkeletonFileError(path, None, "a path with no file yet (pass overwrite=True, or --overwrite, to replace it)",
                                        "a file created while writing") from None
            except OSError:  # a filesystem without hard links
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
