"""Reading skeleton recordings: a small registry of readers and :func:`load_skeleton`.

A reader is ``reader_fn(path, **kwargs) -> SkeletonSequence`` registered for file extensions
(``".bvh"``; ``"/"`` means a folder) with an optional ``sniff(path) -> bool`` that recognises its
content where several readers share an extension (N-UCLA, OpenPose and COCO are all ``.json``).
The built-in readers live in :mod:`hf_skeleton.skeletons.readers`, one module per format.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HFSkeletonError, SkeletonFileError, SkeletonInputError
from .formats import SkeletonFormat, get_format, list_formats
from .readers._common import json_cache, json_keys
from .sequence import SkeletonSequence

ReaderFn = Callable[..., SkeletonSequence]
SniffFn = Callable[[Path], bool]


@dataclass(frozen=True)
class ReaderSpec:
    """A registered reader: its name, the extensions it claims, its function and content test."""

    name: str
    extensions: tuple[str, ...]
    fn: ReaderFn
    sniff: SniffFn | None = None
    description: str = ""

    def options(self) -> list[str] | None:
        """Keyword options of the reader function (None when it takes ``**kwargs``)."""
        try:
            params = list(inspect.signature(self.fn).parameters.values())[1:]
        except (TypeError, ValueError):
            return None
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]

    @property
    def takes_format(self) -> bool:
        return "format" in (self.options() or [])


_READERS: dict[str, ReaderSpec] = {}
_BUILTINS_LOADED = False


def _normalise_extension(ext: str) -> str:
    ext = str(ext).strip().lower()
    if ext in ("/", "dir", "folder"):
        return "/"
    return ext if ext.startswith(".") else "." + ext


def register_reader(name: str, extensions: str | tuple[str, ...] | list[str], reader_fn: ReaderFn,
                    sniff: SniffFn | None = None, *, description: str = "",
                    overwrite: bool = False) -> ReaderSpec:
    """Register ``reader_fn`` for ``extensions`` (``"/"`` = a folder).

    Where several readers claim an extension, :func:`load_skeleton` asks their ``sniff`` functions,
    most recently registered first, and falls back to a reader without ``sniff``. A reader whose
    function takes a ``format`` argument receives ``load_skeleton``'s ``format=`` when that names a
    skeleton format rather than a reader.
    """
    if not isinstance(name, str) or not name:
        raise SkeletonInputError("name", "a non-empty reader name", name)
    if not callable(reader_fn):
        raise SkeletonInputError("reader_fn", "a callable (path, **kwargs) -> SkeletonSequence", reader_fn)
    if sniff is not None and not callable(sniff):
        raise SkeletonInputError("sniff", "None or a callable (path) -> bool", sniff)
    exts = (extensions,) if isinstance(extensions, str) else tuple(extensions)
    if not exts:
        raise SkeletonInputError("extensions", "at least one extension such as '.bvh' (or '/' for folders)",
                                 extensions)
    if name in _READERS and not overwrite and _READERS[name].fn is not reader_fn:
        raise SkeletonInputError("name", f"a reader name not yet registered (pass overwrite=True to "
                                         f"replace {name!r})", name)
    spec = ReaderSpec(name, tuple(_normalise_extension(e) for e in exts), reader_fn, sniff, description)
    _READERS[name] = spec
    return spec


def _ensure_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        from .readers import register_builtin_readers

        register_builtin_readers()
        # videos: a skeleton estimated by BlazePose (MediaPipe is imported only when a video is read)
        from .readers.video_pose import VIDEO_EXTENSIONS, read_video_pose

        register_reader("video_pose", VIDEO_EXTENSIONS, read_video_pose,
                        description="a video (any PyAV decodes): BlazePose blazepose33, world metres, y up")
        # a multi-view trial folder (videos + calibration): BlazePose per video, then triangulation
        from .readers.multiview import is_multiview_folder, read_multiview

        register_reader("multiview", ("/",), read_multiview, sniff=is_multiview_folder,
                        description="a folder of synchronised videos and a calibration (.toml/.qca.txt): "
                                    "triangulated blazepose33, metres, the calibration's world frame")


def list_readers() -> dict[str, tuple[str, ...]]:
    """Reader name -> the extensions it reads (``"/"`` = a folder)."""
    _ensure_builtins()
    return {name: spec.extensions for name, spec in _READERS.items()}


def get_reader(name: str) -> ReaderSpec:
    _ensure_builtins()
    try:
        return _READERS[name]
    except KeyError:
        raise SkeletonInputError("format", f"a reader name, one of {sorted(_READERS)}", name) from None


def _supported() -> list[str]:
    return sorted({e for spec in _READERS.values() for e in spec.extensions})


def _choose_reader(path: Path) -> ReaderSpec:
    key = "/" if path.is_dir() else path.suffix.lower()
    candidates = [s for s in reversed(list(_READERS.values())) if key in s.extensions]
    if not candidates:
        what = "folder" if key == "/" else (key or "no extension")
        raise SkeletonFileError(path, "extension", f"one of {_supported()} (or pass format= naming a "
                                                   f"reader: {sorted(_READERS)})", what)
    fallback = None
    for spec in candidates:
        if spec.sniff is None:
            fallback = fallback or spec
        elif spec.sniff(path):
            return spec
    if fallback is not None:
        return fallback
    hints = "; ".join(f"{s.name}: {s.description}" for s in candidates)
    found: Any = "content none of them recognises"
    if key == ".json":
        found = f"top-level keys {sorted(json_keys(path))[:8]}"
    raise SkeletonFileError(path, "content", f"a file one of the {key} readers recognises ({hints})", found)


def reader_for(path: str | Path, format: str | SkeletonFormat | None = None) -> ReaderSpec:
    """The reader :func:`load_skeleton` would use for ``path`` with ``format=``: the named reader, else the
    one the extension (and, where several share it, the content) picks. Lets a caller see a reader's
    options (``spec.options()``) before reading, e.g. whether it takes ``fps=``."""
    _ensure_builtins()
    if isinstance(format, str) and format in _READERS:
        return _READERS[format]
    return _choose_reader(Path(path))


def load_skeleton(path: str | Path, format: str | SkeletonFormat | None = None,
                  **kwargs: Any) -> SkeletonSequence:
    """Read a skeleton recording into a :class:`SkeletonSequence`.

    Args:
        path: a file, or a folder holding one clip as per-frame files (OpenPose JSON).
        format: ``None`` picks the reader from the extension and, for shared extensions such as
            ``.json`` or ``.npy``, from the content. A reader name (see :func:`list_readers`) forces
            that reader. A skeleton format name (``"kinect_v2"``...) or :class:`SkeletonFormat` says
            what the file does not (the joint layout of a plain ``.npy``); for readers whose files
            carry their own layout, the result is converted to that format by joint names.
        **kwargs: passed to the reader (``fps=``, ``scale=``, ``threshold=``...).

    Returns:
        ``positions`` float32 (T, P, J, 3), ``mask`` bool (T, P, J), ``fps``, ``format``, ``meta``
        (``source``, ``reader`` and whatever the file says: ``label``, ``label_name``, ``text``...).

    Raises:
        SkeletonFileError: missing or unreadable file, unknown extension, or bad content (the error
            names the file, the field or line, what was expected and what was found).
    """
    with json_cache():
        return _load(Path(path), format, kwargs)


def _load(path: Path, format: str | SkeletonFormat | None, kwargs: dict[str, Any]) -> SkeletonSequence:
    _ensure_builtins()
    if not path.exists():
        raise SkeletonFileError(path, None, "an existing file or folder", "nothing at this path")
    skeleton_format = None
    if isinstance(format, str) and format in _READERS:
        spec = _READERS[format]
    else:
        if format is not None:
            try:
                skeleton_format = get_format(format)
            except HFSkeletonError:
                raise SkeletonInputError("format", f"a reader name {sorted(_READERS)} or a skeleton format "
                                                   f"{list_formats()}", format) from None
        spec = _choose_reader(path)
    if skeleton_format is not None and spec.takes_format:
        kwargs["format"] = skeleton_format
    options = spec.options()
    unknown = sorted(set(kwargs) - set(options)) if options is not None else []
    if unknown:
        raise SkeletonInputError(f"load_skeleton(**kwargs) for reader {spec.name!r}",
                                 f"options among {[o for o in options if o != 'format']}", unknown)
    seq = spec.fn(path, **kwargs)
    if not isinstance(seq, SkeletonSequence):
        raise SkeletonInputError(f"reader {spec.name!r}", "a SkeletonSequence", type(seq).__name__)
    seq.meta.setdefault("source", str(path))
    seq.meta.setdefault("reader", spec.name)
    if skeleton_format is not None and seq.format != skeleton_format:
        seq = seq.to_format(skeleton_format)
    return seq


_ensure_builtins()  # built-in readers (and the formats they define, e.g. pose2sim21) exist on import
