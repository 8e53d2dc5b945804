"""TRC marker trajectories (OpenSim / Pose2Sim 3D output).

Row 2 names the header fields (``DataRate ... NumFrames NumMarkers Units``) and row 3 holds their
values; row 4 names the markers after ``Frame#`` and ``Time``; data starts at row 6 with
``Frame# Time x1 y1 z1 x2 ...``. Empty fields are missing markers (masked).

Pose2Sim's 21 markers (``RHip``, ``RKnee``, ... ``LWrist``) load as the registered ``pose2sim21``
format with the shared joint vocabulary (``right_hip``...). Other marker sets get a format built from
their names: markers of ``pose2sim21`` keep its tree, every other marker hangs from the marker it
stays closest to on average (a Prim-style spanning tree over mean distances).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from ...errors import SkeletonFileError
from ..formats import SkeletonFormat, get_format, register_format
from ..sequence import SkeletonSequence
from ._common import canonical_joint_name, mirror_pairs_from_names, parts_from_names, read_text

_P2S = ["neck", "head", "nose", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
        "left_wrist", "right_hip", "right_knee", "right_ankle", "right_big_toe", "right_small_toe", "right_heel",
        "left_hip", "left_knee", "left_ankle", "left_big_toe", "left_small_toe", "left_heel"]
_P2S_PARENT = {"neck": None, "head": "neck", "nose": "head", "right_shoulder": "neck", "right_elbow": "right_shoulder",
               "right_wrist": "right_elbow", "left_shoulder": "neck", "left_elbow": "left_shoulder",
               "left_wrist": "left_elbow", "right_hip": "neck", "right_knee": "right_hip",
               "right_ankle": "right_knee", "right_big_toe": "right_ankle", "right_small_toe": "right_big_toe",
               "right_heel": "right_ankle", "left_hip": "neck", "left_knee": "left_hip", "left_ankle": "left_knee",
               "left_big_toe": "left_ankle", "left_small_toe": "left_big_toe", "left_heel": "left_ankle"}

POSE2SIM21 = register_format(SkeletonFormat(
    name="pose2sim21", joints=tuple(_P2S),
    parents=tuple(-1 if _P2S_PARENT[j] is None else _P2S.index(_P2S_PARENT[j]) for j in _P2S),
    parts=parts_from_names(_P2S), mirror_pairs=mirror_pairs_from_names(_P2S), up_axis="y", units="m",
    description="Pose2Sim triangulated markers (HALPE/BODY_25-like names without mid-hip): neck-rooted tree, "
                "metres, y up. TRC marker RBigToe = right_big_toe etc."))


def _split(line: str) -> list[str]:
    return line.rstrip("\r\n").split("\t") if "\t" in line else line.split()


def _header(path: Path, lines: list[str]) -> dict[str, str]:
    if len(lines) < 5:
        raise SkeletonFileError(path, f"line {len(lines) + 1}", "5 header rows (PathFileType, field names, "
                                                                 "values, marker names, X1 Y1 Z1...)", "end of file")
    keys, values = _split(lines[1]), _split(lines[2])
    if "DataRate" not in keys and "NumFrames" not in keys:
        raise SkeletonFileError(path, "line 2", "TRC header field names (DataRate ... NumFrames NumMarkers "
                                                "Units)", lines[1][:60])
    return {k.strip(): v.strip() for k, v in zip(keys, values)}


def _number(path: Path, field: str, header: dict[str, str], integer: bool = False) -> float | None:
    if field not in header:
        return None
    text = header[field]
    try:
        value = float(text)
    except ValueError:
        raise SkeletonFileError(path, f"line 3 ({field})", "a number", text[:40]) from None
    if not np.isfinite(value) or value < 0 or (integer and value != int(value)):
        raise SkeletonFileError(path, f"line 3 ({field})", "a non-negative " + ("integer" if integer else "number"),
                                text[:40])
    return value


def _mean_distances(pos: np.ndarray) -> np.ndarray:
    """(M, M) mean distance between markers over up to 200 frames; inf where never seen together.
    Frame by frame, so memory stays O(M^2) (800 markers: 5 MB, not the 3 GB of one broadcast)."""
    M = pos.shape[1]
    total, count = np.zeros((M, M)), np.zeros((M, M))
    with np.errstate(all="ignore"):
        for frame in pos[::max(1, len(pos) // 200)]:
            d = np.sqrt(((frame[:, None] - frame[None]) ** 2).sum(-1))
            seen = np.isfinite(d)
            total += np.where(seen, d, 0)
            count += seen
    mean = total / np.maximum(count, 1)
    mean[count == 0] = np.inf
    return mean


def _tree(names: list[str], pos: np.ndarray) -> list[int]:
    """Parents from canonical marker names: pose2sim21's tree where its markers are all present,
    nearest-marker links elsewhere (Prim's algorithm, O(M^2): the closest free marker joins next,
    ties to the lowest indices; never-seen markers still get a parent and stay masked)."""
    M = len(names)
    parents = [-2] * M
    if set(_P2S) <= set(names):
        for i, n in enumerate(names):
            if n in _P2S_PARENT:
                parents[i] = -1 if _P2S_PARENT[n] is None else names.index(_P2S_PARENT[n])
    else:
        finite = np.isfinite(pos).all(-1)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing markers: mean of nothing
            centre = np.nanmean(np.where(finite[..., None], pos, np.nan), axis=(0, 1))
            gap = np.nanmean(np.linalg.norm(pos - centre, axis=-1), axis=0)
        root = int(np.nanargmin(gap)) if np.isfinite(gap).any() else 0
        parents[root] = -1
    dist = _mean_distances(pos)
    free = np.array([p == -2 for p in parents])
    best, via = np.full(M, np.inf), np.full(M, M)  # distance to the attached set, and through which marker
    for a in np.flatnonzero(~free):
        closer = (dist[:, a] < best) | ((dist[:, a] == best) & (a < via))
        best, via = np.where(closer, dist[:, a], best), np.where(closer, a, via)
    while free.any():
        i = int(np.flatnonzero(free)[np.argmin(best[free])])
        parents[i], free[i] = int(via[i]), False
        closer = (dist[:, i] < best) | ((dist[:, i] == best) & (i < via))
        best, via = np.where(closer, dist[:, i], best), np.where(closer, i, via)
    return parents


def read_trc(path: Path, *, fps: float | None = None) -> SkeletonSequence:
    """A TRC file: positions (T, 1, M, 3) in the file's units (``Units`` header), fps from ``DataRate``.

    ``meta``: ``markers`` (names as written), ``units``, ``time`` (s, the Time column), ``frame_numbers``.
    """
    path = Path(path)
    lines = read_text(path).splitlines()
    header = _header(path, lines)
    rate = _number(path, "DataRate", header)
    n_frames = _number(path, "NumFrames", header, integer=True)
    n_markers = _number(path, "NumMarkers", header, integer=True)
    units = header.get("Units", "m") or "m"
    row4 = _split(lines[3])
    if len(row4) < 3 or row4[0].strip().lower() != "frame#":
        raise SkeletonFileError(path, "line 4", "'Frame#', 'Time', then marker names", lines[3][:60])
    markers = [m.strip() for m in row4[2:] if m.strip()]
    if n_markers is not None and len(markers) != n_markers:
        raise SkeletonFileError(path, "line 4", f"{int(n_markers)} marker names (NumMarkers)", len(markers))
    M = len(markers)
    if M == 0:
        raise SkeletonFileError(path, "line 4", "at least one marker name after Frame# and Time", "none")
    if len(set(markers)) != M:
        dup = sorted({m for m in markers if markers.count(m) > 1})
        raise SkeletonFileError(path, "line 4", "unique marker names", dup)
    width = 2 + 3 * M
    rows, numbers = [], []
    for n, line in enumerate(lines[5:], start=6):
        if not line.strip():
            continue
        toks = line.rstrip("\r\n").split("\t") if "\t" in line else line.split()
        if len(toks) == width + 1 and not toks[-1].strip():
            toks = toks[:-1]
        if len(toks) != width:
            raise SkeletonFileError(path, f"line {n}", f"{width} fields (Frame#, Time, xyz of {M} markers)",
                                    f"{len(toks)} fields")
        rows.append([t.strip() or "nan" for t in toks])
        numbers.append(n)
    if not rows:
        raise SkeletonFileError(path, "line 6", "at least one data row", "none")
    if n_frames is not None and len(rows) != n_frames:
        raise SkeletonFileError(path, "data rows", f"{int(n_frames)} frames (NumFrames)", len(rows))
    try:
        data = np.array(rows, dtype=np.float64)
    except ValueError:
        for row, n in zip(rows, numbers):
            for tok in row:
                try:
                    float(tok)
                except ValueError:
                    raise SkeletonFileError(path, f"line {n}", "numbers", tok[:40]) from None
        raise
    pos = data[:, 2:].reshape(len(rows), M, 3)
    if fps is None:
        fps = rate
        if not fps:
            dt = np.diff(data[:, 1])
            fps = 1.0 / float(np.median(dt)) if len(dt) and np.median(dt) > 0 else None
    if fps is None or not np.isfinite(fps) or fps <= 0:
        raise SkeletonFileError(path, "line 3 (DataRate)", "a positive frame rate (or pass fps=)", rate)
    canon = [canonical_joint_name(m) for m in markers]
    meta = {"dataset": "trc", "clip": path.stem, "markers": markers, "units": units,
            "time": data[:, 1].astype(np.float32), "frame_numbers": data[:, 0]}
    if sorted(canon) == sorted(_P2S):
        order = [canon.index(j) for j in _P2S]
        fmt = get_format("pose2sim21")
        if units != fmt.units:
            fmt = SkeletonFormat(**{**fmt.to_dict(), "units": units})
        return SkeletonSequence(positions=pos[:, None, order].astype(np.float32), fps=fps, format=fmt, meta=meta)
    parents = _tree(canon, pos)
    names = canon if len(set(canon)) == M else markers
    digest = hashlib.sha1(repr((names, parents)).encode()).hexdigest()[:8]
    fmt = SkeletonFormat(name=f"trc{M}_{digest}", joints=tuple(names), parents=tuple(parents),
                         parts=parts_from_names(markers), mirror_pairs=mirror_pairs_from_names(markers),
                         up_axis="y", units=units, description=f"markers of {path.name}")
    return SkeletonSequence(positions=pos[:, None].astype(np.float32), fps=fps, format=fmt, meta=meta)
