"""Helpers shared by the readers: file access with typed errors, numeric parsing, joint-name heuristics."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import SkeletonFileError
from ..formats import BODY_PARTS

# ---------------------------------------------------------------------- file access


MAX_FILE_BYTES_ENV = "HF_SKELETON_MAX_FILE_BYTES"
_DEFAULT_MAX_FILE_BYTES = 4 * 2**30  # larger recordings: raise it with the environment variable


def max_file_bytes() -> int:
    """The largest file a reader opens (``$HF_SKELETON_MAX_FILE_BYTES``, default 4 GiB)."""
    value = os.environ.get(MAX_FILE_BYTES_ENV, "")
    return int(value) if value.isdecimal() else _DEFAULT_MAX_FILE_BYTES


def regular_file_size(path: Path) -> int:
    """The size of ``path``, which must be a regular file (after symlinks) within :func:`max_file_bytes`:
    FIFOs and devices (``/dev/zero``) would block or never end, so they are refused before any read."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise SkeletonFileError(path, None, "a readable file", f"{type(e).__name__}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or
                stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise SkeletonFileError(path, None, "a regular file", kind)
    if st.st_size > max_file_bytes():
        raise SkeletonFileError(path, None, f"at most {max_file_bytes()} bytes (${MAX_FILE_BYTES_ENV})",
                                f"{st.st_size} bytes")
    return st.st_size


def open_regular(path: Path, *args: Any, **kwargs: Any):
    """``open(path, ...)`` for a regular file within the size limit (see :func:`regular_file_size`)."""
    regular_file_size(path)
    try:
        return open(path, *args, **kwargs)  # noqa: SIM115 - the caller closes it
    except OSError as e:
        raise SkeletonFileError(path, None, "a readable file", f"{type(e).__name__}: {e.strerror or e}") from None


def read_bytes(path: Path) -> bytes:
    """The whole file; a missing, unreadable, special (FIFO, device) or empty file is a :class:`SkeletonFileError`."""
    size = regular_file_size(path)
    try:
        with open(path, "rb") as f:
            data = f.read(size + 1)  # bounded: a file growing while read cannot exhaust memory
    except OSError as e:
        raise SkeletonFileError(path, None, "a readable file", f"{type(e).__name__}: {e.strerror or e}") from None
    if not data.strip():
        raise SkeletonFileError(path, None, "a non-empty file", f"{len(data)} bytes of whitespace or nothing")
    return data


MAX_EXPANSION_ENV = "HF_SKELETON_MAX_EXPANSION"
_DEFAULT_MAX_EXPANSION = 64  # dense bytes per source byte; real clips need 1-6 (NTU, CMU BVH, COCO)
_DENSE_FLOOR_BYTES = 64 * 2**20


def check_dense_size(path: Path, field: str, shape: tuple[int, ...], source_bytes: int) -> None:
    """Refuse to allocate a float64 array of ``shape`` far larger than the ``source_bytes`` describing it.

    Readers pad to a dense (T, P, J, ...) layout, so a small file can claim a huge one (10^6 frames with
    no bodies, 4,000 one-frame tracks, 1,000 joints without channels); see :func:`check_expansion`."""
    needed = 8
    for n in shape:
        needed *= int(n)
    check_expansion(path, field, needed, source_bytes, f"a clip whose dense {tuple(shape)} float64 array")


def check_expansion(path: Path, field: str, needed: int, source_bytes: int, what: str) -> None:
    """A typed error, before any allocation, when ``needed`` bytes exceed 64 MiB +
    ``$HF_SKELETON_MAX_EXPANSION`` (default 64) x ``source_bytes`` (the file describing them)."""
    value = os.environ.get(MAX_EXPANSION_ENV, "")
    expansion = int(value) if value.isdecimal() else _DEFAULT_MAX_EXPANSION
    allowed = _DENSE_FLOOR_BYTES + expansion * max(int(source_bytes), 0)
    if needed > allowed:
        raise SkeletonFileError(path, field, f"{what} within {allowed} bytes (64 MiB + ${MAX_EXPANSION_ENV}="
                                f"{expansion} x the {source_bytes}-byte file)", f"{needed} bytes")


def read_side_text(path: Path) -> str | None:
    """An optional companion file (captions, split lists, label tables) as text; ``None`` when it is
    missing, unreadable, special (FIFO, device) or over the size limit: it never blocks the main read."""
    try:
        regular_file_size(path)
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except (SkeletonFileError, OSError):
        return None


def read_text(path: Path) -> str:
    data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SkeletonFileError(path, f"line {line}", "UTF-8 text", data[e.start:e.start + 8]) from None


_JSON_CACHE: dict[str, Any] | None = None


@contextlib.contextmanager
def json_cache() -> Iterator[None]:
    """Within this block each JSON file is parsed once (content sniffing, then the reader).
    :func:`hf_skeleton.load_skeleton` opens one per call, so nothing stale outlives a call."""
    global _JSON_CACHE
    outer = _JSON_CACHE
    _JSON_CACHE = {} if outer is None else outer
    try:
        yield
    finally:
        _JSON_CACHE = outer


def read_json(path: Path) -> Any:
    """Parsed JSON (cached inside :func:`json_cache`)."""
    path = Path(path)
    key = str(path)
    if _JSON_CACHE is not None and key in _JSON_CACHE:
        return _JSON_CACHE[key]
    text = read_text(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise SkeletonFileError(path, f"line {e.lineno} column {e.colno}", "valid JSON", e.msg) from None
    except RecursionError:
        raise SkeletonFileError(path, None, "JSON nested less than ~1000 levels deep", "deeper nesting") from None
    except ValueError as e:  # e.g. an integer literal over Python's 4,300-digit conversion limit
        raise SkeletonFileError(path, None, "valid JSON with numbers of ordinary size", " ".join(str(e).split())[:120]) from None
    if _JSON_CACHE is not None:
        _JSON_CACHE[key] = obj
    return obj


def json_keys(path: Path) -> set[str]:
    """Top-level keys of a JSON object file (empty when the top level is not an object)."""
    obj = read_json(path)
    return set(obj) if isinstance(obj, dict) else set()


def require_key(path: Path, obj: Any, key: str, where: str = "") -> Any:
    if not isinstance(obj, dict):
        raise SkeletonFileError(path, where or "top level", "a JSON object", type(obj).__name__)
    if key not in obj:
        raise SkeletonFileError(path, f"{where}{'.' if where else ''}{key}", "this key to be present",
                                sorted(obj)[:10])
    return obj[key]


def float_array(path: Path, field: str, value: Any, expected: str) -> np.ndarray:
    """``value`` (nested lists) as a float64 array; ragged or non-numeric input is a typed error.

    JSON ``null`` becomes NaN (an unobserved value, masked later)."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError) as e:
        raise SkeletonFileError(path, field, expected, f"{type(e).__name__}: {e}") from None


def as_int(path: Path, field: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
    """An integer (JSON int, or a float with an integral value) within [lo, hi]."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok and isinstance(value, float) and np.isfinite(value) and value == int(value):
        value, ok = int(value), True
    if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f" in {lo}..{hi}" if lo is not None and hi is not None else ""
        raise SkeletonFileError(path, field, f"an integer{rng}", value)
    return int(value)


def decimal_int(text: str, limit_digits: int = 18) -> int | None:
    """``text`` as a non-negative integer if it is plain decimal digits of ordinary length, else ``None``
    (Python refuses to convert more than 4,300 digits with an untyped ValueError)."""
    return int(text) if text.isdecimal() and len(text) <= limit_digits else None


def natural_key(name: str) -> list[Any]:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


# ---------------------------------------------------------------------- joint-name heuristics
# Words that put a sided joint in an arm or a leg. Matched as substrings of the name's word tokens
# (so CMU's lShldr/rForeArm, the ASF-style lhumerus/rtibia and OpenSim's r_mknee_study all work);
# arm words are tried first so that 'shoulder' never falls through to a leg word.
_ARM_WORDS = ("collar", "clavicle", "shldr", "shoulder", "humerus", "arm", "radius", "ulna", "elbow",
              "wrist", "hand", "finger", "thumb", "index", "ring", "pinky", "little", "palm")
_ARM_TOKENS = ("mid",)  # exact tokens only (CMU lMid1: the middle finger)
_LEG_WORDS = ("buttock", "hip", "femur", "thigh", "upleg", "shin", "tibia", "knee", "leg", "ankle",
              "foot", "toe", "heel", "calc", "meta", "hjc", "calf")
_LEG_TOKENS = ("sh",)  # OpenSim shank markers r_sh1_study
_SIDE_STEMS = _ARM_WORDS + _LEG_WORDS + ("eye", "ear", "mid", "big", "small", "asis", "psis")


def _tokens(stem: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", stem)
    return [t for t in re.split(r"[^a-zA-Z0-9]+", spaced.lower()) if t]


def split_side(name: str) -> tuple[str | None, str]:
    """('left' | 'right' | None, rest of the name) from prefixes like ``left``, ``Right``, ``lShldr``,
    ``lfemur``, ``L_knee``, ``r.ASIS``, ``LHip``. A namespace before ``:`` is ignored."""
    base = name.rsplit(":", 1)[-1]
    low = base.lower()
    for side in ("left", "right"):
        if low.startswith(side) and len(base) > len(side):
            return side, base[len(side):].lstrip("_.- ")
    if len(base) > 1 and base[0] in "lLrR":
        side = "left" if base[0] in "lL" else "right"
        rest = base[1:]
        if rest[0] in "_.-" and len(rest) > 1:
            return side, rest[1:]
        if rest[0].isupper():
            return side, rest
        if rest[0].islower() and rest.lower().startswith(_SIDE_STEMS):
            return side, rest
    return None, base


def canonical_joint_name(name: str) -> str:
    """Shared-vocabulary spelling: ``RBigToe`` -> ``right_big_toe``, ``Neck`` -> ``neck``."""
    side, stem = split_side(name)
    words = _tokens(stem) or [stem.lower()]
    return "_".join(([side] if side else []) + words)


def parts_from_names(names: Iterable[str]) -> dict[str, tuple[int, ...]]:
    """Body part of every joint from its name: sided arm words -> ``{side}_arm``, sided leg words ->
    ``{side}_leg``, everything else (spine, head, eyes, pelvis markers) -> ``torso``."""
    parts: dict[str, list[int]] = {p: [] for p in BODY_PARTS}
    for i, name in enumerate(names):
        side, stem = split_side(name)
        part = "torso"
        if side is not None:
            toks = _tokens(stem)
            bare = [t.strip("0123456789") for t in toks]
            if any(w in t for t in toks for w in _ARM_WORDS) or any(t in _ARM_TOKENS for t in bare):
                part = f"{side}_arm"
            elif any(w in t for t in toks for w in _LEG_WORDS) or any(t in _LEG_TOKENS for t in bare):
                part = f"{side}_leg"
        parts[part].append(i)
    return {k: tuple(v) for k, v in parts.items() if v}


def mirror_pairs_from_names(names: Iterable[str]) -> tuple[tuple[int, int], ...]:
    """(left, right) pairs of joints whose names differ only by their side prefix."""
    by_stem: dict[tuple[str, str], int] = {}
    for i, name in enumerate(names):
        side, stem = split_side(name)
        if side is not None:
            by_stem.setdefault((side, "_".join(_tokens(stem)) or stem.lower()), i)
    return tuple(sorted((i, by_stem[("right", stem)]) for (side, stem), i in by_stem.items()
                        if side == "left" and ("right", stem) in by_stem))
