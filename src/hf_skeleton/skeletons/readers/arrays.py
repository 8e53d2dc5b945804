"""Plain ``.npy`` / ``.npz`` arrays (never pickles), and HumanML3D's ``new_joints/<id>.npy``.

A plain array does not say its joint layout: pass ``format=``. HumanML3D motions are SMPL-22 joints
at 20 fps; their captions live in a sibling ``texts/<id>.txt`` in the official layout
(``caption#tokens#start#end`` per line).
"""

from __future__ import annotations

import json
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import HFSkeletonError, SkeletonFileError
from ..formats import SkeletonFormat, get_format
from ..sequence import SkeletonSequence
from ._common import check_expansion, open_regular, read_side_text

HUMANML3D_FPS = 20.0


def load_array(path: Path, key: str | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(array, other arrays) from a ``.npy`` (other = {}) or ``.npz`` (``key``, else ``positions``,
    else its only array). Object arrays (pickles) are refused."""
    path = Path(path)
    arrays = load_arrays(path)
    if "" in arrays:
        return arrays[""], {}
    if key is None:
        key = "positions" if "positions" in arrays else next(iter(arrays)) if len(arrays) == 1 else None
    if key not in arrays:
        raise SkeletonFileError(path, "key", f"one of {sorted(arrays)} (pass key=; 'positions' is the default)",
                                key)
    arr = arrays.pop(key)
    return arr, arrays


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` by member name (at least one), or ``{"": array}`` for a ``.npy``.
    Object arrays (pickles) are refused."""
    path = Path(path)
    f = open_regular(path, "rb")  # closed by the `with f` below
    try:
        with f:
            _check_npy_header(path, f)
            loaded = np.load(f, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded:
                    arrays = {k: loaded[k] for k in loaded.files}
            else:
                arrays = {"": loaded}
    except SkeletonFileError:
        raise
    except (OSError, ValueError, EOFError, KeyError, MemoryError, UnicodeDecodeError, SyntaxError, zipfile.BadZipFile,
            zlib.error, struct.error, NotImplementedError, RuntimeError, OverflowError, tokenize.TokenError,
            TypeError) as e:
        # numpy: ValueError for pickled object arrays, bad headers and short data, EOFError for empty
        # files; zipfile/zlib/struct for damaged .npz archives (NotImplementedError: unknown compression,
        # RuntimeError: "encrypted" flag); tokenize.TokenError from a header dict that never closes,
        # TypeError from one whose keys are not all strings (numpy sorts them)
        raise SkeletonFileError(path, None, "a NumPy array file without pickled objects",
                                f"{type(e).__name__}: {e}") from None
    not_arrays = sorted(k for k, v in arrays.items() if not isinstance(v, np.ndarray))
    if not_arrays:  # an .npz member without a .npy header comes back as raw bytes
        raise SkeletonFileError(path, not_arrays[0], "an .npy array in every .npz member", "raw bytes")
    if not arrays:
        raise SkeletonFileError(path, None, "an .npz holding at least one array", "an empty archive")
    return arrays


def _check_npy_header(path: Path, f) -> None:
    """Before numpy allocates anything: a ``.npy`` header whose shape needs more bytes than the file
    has is refused; in an ``.npz``, so is every member's, against the member's declared size, and
    the members' total uncompressed size must stay proportionate to the archive (zip bombs).
    Leaves ``f`` at the start."""
    magic = f.read(6)
    f.seek(0)
    if magic == b"\x93NUMPY":
        _check_member(path, f, path.stat().st_size)
    elif magic[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(f) as archive:
            members = archive.infolist()
            check_expansion(path, "uncompressed size", sum(m.file_size for m in members), path.stat().st_size,
                            "archive members")
            for m in members:
                if m.filename.endswith(".npy"):
                    with archive.open(m) as member:
                        _check_member(path, member, m.file_size, m.filename)
        f.seek(0)


def _check_member(path: Path, f, size: int, member: str | None = None) -> None:
    """Refuse a ``.npy`` header (at the start of ``f``, ``size`` bytes in all) claiming more data than there is."""
    if f.read(6) != b"\x93NUMPY":
        return
    f.seek(0)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:  # newer header versions: numpy's own checks apply
        f.seek(0)
        return
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = size - f.tell()
    f.seek(0)
    if need > have:
        raise SkeletonFileError(path, f"{member}: data" if member else "data",
                                f"{need} bytes of array data for shape {shape}", f"{have} bytes (truncated file?)")


def _positions(path: Path, arr: np.ndarray, fmt: SkeletonFormat) -> np.ndarray:
    """(T, P, J, 3) float array from (T, J, C) or (T, P, J, C), C in {2, 3}."""
    if arr.dtype.kind not in "biuf":
        raise SkeletonFileError(path, "dtype", "a numeric array", str(arr.dtype))
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[0] < 1 or arr.shape[1] < 1 or arr.shape[-1] not in (2, 3):
        J = fmt.num_joints
        raise SkeletonFileError(path, "shape", f"(T, {J}, 3) or (T, P, {J}, 3) (or 2 coordinates), T >= 1: "
                                               f"{J} joints for format {fmt.name!r}", tuple(arr.shape))
    if arr.shape[2] != fmt.num_joints:
        raise SkeletonFileError(path, "shape", f"{fmt.num_joints} joints for format {fmt.name!r}",
                                tuple(arr.shape))
    with np.errstate(all="ignore"):
        return arr.astype(np.float32)


def read_array(path: Path, *, format: str | SkeletonFormat | None = None, fps: float = 30.0,
               key: str | None = None) -> SkeletonSequence:
    """A ``.npy`` array (T, J, 3) / (T, P, J, 3), or an ``.npz`` with ``positions`` and optional ``mask``
    (T, P, J), ``fps``, ``orientations`` (T, P, J, 3, 3), ``format`` (a JSON ``SkeletonFormat`` dict)
    and ``meta`` (a JSON object) entries, as ``save_skeleton(seq, "clip.npz")`` writes them.
    ``format=`` names the joint layout; required unless the file carries it."""
    path = Path(path)
    arr, extra = load_array(path, key)
    if format is None and "format" in extra:
        fmt = _json_format(path, extra["format"])
    elif format is None:
        raise SkeletonFileError(path, "format", "format= naming the joint layout of a plain array "
                                                "(e.g. load_skeleton(path, format='kinect_v2'))", None)
    else:
        fmt = get_format(format)
    pos = _positions(path, arr, fmt)
    mask = None
    if "mask" in extra:
        m = extra["mask"]
        if m.ndim == 2:
            m = m[:, None]
        if m.shape != pos.shape[:3] or m.dtype.kind not in "biu":
            raise SkeletonFileError(path, "mask", f"a boolean array of shape {pos.shape[:3]}",
                                    f"{m.dtype} {m.shape}")
        mask = m.astype(bool)
    orientations = None
    if "orientations" in extra:
        o = extra["orientations"]
        if o.shape != pos.shape[:3] + (3, 3) or o.dtype.kind not in "biuf":
            raise SkeletonFileError(path, "orientations", f"a numeric array of shape {pos.shape[:3] + (3, 3)}",
                                    f"{o.dtype} {o.shape}")
        with np.errstate(all="ignore"):
            orientations = np.nan_to_num(o.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if "fps" in extra:
        fps = _scalar(path, "fps", extra["fps"])
    fps = _positive(path, "fps", fps)
    meta = _json_text(path, "meta", extra["meta"]) if "meta" in extra else {}
    if not isinstance(meta, dict):
        raise SkeletonFileError(path, "meta", "a JSON object", type(meta).__name__)
    meta = {k: v for k, v in meta.items() if k not in ("source", "reader")}
    meta.setdefault("clip", path.stem)
    return SkeletonSequence(positions=pos, mask=mask, fps=fps, format=fmt, meta=meta, orientations=orientations)


def _json_text(path: Path, name: str, value: np.ndarray) -> Any:
    if value.dtype.kind != "U" or value.size != 1:
        raise SkeletonFileError(path, name, "a JSON string", f"{value.dtype} {value.shape}")
    try:
        return json.loads(str(value.reshape(())))
    except (ValueError, RecursionError) as e:
        raise SkeletonFileError(path, name, "valid JSON", f"{type(e).__name__}: {e}"[:120]) from None


def _json_format(path: Path, value: np.ndarray) -> SkeletonFormat:
    data = _json_text(path, "format", value)
    try:
        return SkeletonFormat.from_dict(data)
    except (HFSkeletonError, TypeError, ValueError) as e:
        raise SkeletonFileError(path, "format", "a SkeletonFormat dict (SkeletonFormat.to_dict())",
                                str(e)[:120]) from None


def _scalar(path: Path, name: str, value: np.ndarray) -> float:
    if value.size != 1 or value.dtype.kind not in "biuf":
        raise SkeletonFileError(path, name, "a single number", f"{value.dtype} {value.shape}")
    return float(value.reshape(()))


def _positive(path: Path, name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not np.isfinite(out) or out <= 0:
        raise SkeletonFileError(path, name, "a positive number", value)
    return out


def is_humanml3d(path: Path) -> bool:
    return Path(path).parent.name == "new_joints"


def _texts(path: Path) -> list[dict[str, Any]]:
    """HumanML3D captions: ``texts/<id>.txt`` beside ``new_joints/``; [] when absent. Lines read as
    ``caption#tokens#start#end``; start/end 0 (or unreadable) mean the whole motion."""
    text_file = path.parent.parent / "texts" / f"{path.stem}.txt"
    raw = read_side_text(text_file)
    if raw is None:
        return []
    out = []
    for line in raw.splitlines():
        fields = line.strip().split("#")
        if not fields[0].strip():
            continue
        span = []
        for v in fields[2:4]:
            try:
                span.append(float(v))
            except ValueError:
                span.append(0.0)
        start, end = (span + [0.0, 0.0])[:2]
        out.append({"caption": fields[0].strip(), "tokens": fields[1].split() if len(fields) > 1 else [],
                    "start": start, "end": end})
    return out


def _split(path: Path) -> str | None:
    for split in ("train", "val", "test"):
        listed = read_side_text(path.parent.parent / f"{split}.txt")
        if listed is None:
            continue
        ids = listed.split()
        if path.stem in ids:
            return split
    return None


def read_humanml3d(path: Path, *, format: str | SkeletonFormat = "smpl22",
                   fps: float = HUMANML3D_FPS) -> SkeletonSequence:
    """A HumanML3D ``new_joints/<id>.npy``: (T, 22, 3) SMPL joints, metres, y up, 20 fps.

    ``meta``: ``id``, ``text`` (first caption) and ``texts`` (every caption with its tokens and
    start/end seconds, 0/0 = whole clip) when ``texts/<id>.txt`` exists, ``split`` when the
    ``train/val/test.txt`` lists sit beside the folders.
    """
    path = Path(path)
    fmt = get_format(format)
    arr, _ = load_array(path)
    pos = _positions(path, arr, fmt)
    return SkeletonSequence(positions=pos, fps=_positive(path, "fps", fps), format=fmt, meta=humanml3d_meta(path))


def humanml3d_meta(path: Path) -> dict[str, Any]:
    """A HumanML3D clip's meta: its id, its captions (``texts/<id>.txt`` beside the motion folder) and the
    split listing it, where those files exist."""
    meta: dict[str, Any] = {"dataset": "humanml3d", "id": path.stem, "clip": path.stem}
    texts = _texts(path)
    if texts:
        meta["texts"] = texts
        meta["text"] = texts[0]["caption"]
    split = _split(path)
    if split is not None:
        meta["split"] = split
    return meta
