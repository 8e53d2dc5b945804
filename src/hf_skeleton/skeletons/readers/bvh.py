"""Biovision Hierarchy (BVH) motion capture: hierarchy, channels and forward kinematics.

The skeleton comes from the file: joint names, parents and offsets from ``ROOT``/``JOINT``/``End Site``
blocks; body parts and mirror pairs from the joint names (CMU's ``lShldr``/``rThigh``, the ASF-style
``lfemur``/``rhumerus``, ``Left``/``Right`` prefixes). Each joint's local rotation is the product of
its rotation channels in the declared order (``Zrotation Xrotation Yrotation`` -> Rz @ Rx @ Ry, i.e.
scipy's intrinsic ``"ZXY"``); its translation is its offset plus any position channels. Global
rotations and positions follow down the tree, vectorised over frames.

The format keeps the file's joint names; ``seq.to_format("h36m17")`` (or ``"smpl22"``, ``"kinect_v2"``)
still matches them by name through the naming conventions of
:data:`hf_skeleton.skeletons.convert.JOINT_NAME_CONVENTIONS` (CMU's Poser, ASF and MotionBuilder
namings, Mixamo rigs).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ...errors import SkeletonFileError
from ..formats import SkeletonFormat
from ..sequence import SkeletonSequence
from ._common import (
    check_dense_size,
    decimal_int,
    mirror_pairs_from_names,
    parts_from_names,
    read_side_text,
    read_text,
)

_CHANNELS = ("xposition", "yposition", "zposition", "xrotation", "yrotation", "zrotation")
LABELS_CSV = "cmu_motion_labels.csv"


@dataclass
class BVHHierarchy:
    """The parsed ``HIERARCHY`` block.

    Attributes:
        names: joint names in file order (parents before children).
        parents: parent index per joint, -1 for the root.
        offsets: float64 (J, 3) offset of each joint from its parent.
        channels: per joint, the declared channel names (lower case) in order.
        end_sites: (parent joint index, (3,) offset) per ``End Site``.
    """

    names: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    offsets: list[np.ndarray] = field(default_factory=list)
    channels: list[list[str]] = field(default_factory=list)
    end_sites: list[tuple[int, np.ndarray]] = field(default_factory=list)

    @property
    def num_channels(self) -> int:
        return sum(len(c) for c in self.channels)


class _Tokens:
    """Whitespace tokens of the hierarchy with their line numbers, for error messages."""

    def __init__(self, path: Path, lines: list[str]):
        self.path = path
        self.items = [(tok, n + 1) for n, line in enumerate(lines) for tok in line.split()]
        self.i = 0

    def next(self, expected: str) -> tuple[str, int]:
        if self.i >= len(self.items):
            line = self.items[-1][1] if self.items else 1
            raise SkeletonFileError(self.path, f"line {line}", expected, "end of the hierarchy")
        tok = self.items[self.i]
        self.i += 1
        return tok

    def expect(self, word: str) -> int:
        tok, line = self.next(repr(word))
        if tok.upper() != word.upper():
            raise SkeletonFileError(self.path, f"line {line}", repr(word), tok)
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            value = float(tok)
        except ValueError:
            raise SkeletonFileError(self.path, f"line {line}", what, tok) from None
        if not np.isfinite(value):
            raise SkeletonFileError(self.path, f"line {line}", f"a finite {what}", tok)
        return value

    def offset(self) -> np.ndarray:
        self.expect("OFFSET")
        return np.array([self.number("an OFFSET coordinate") for _ in range(3)])


def parse_hierarchy(path: Path, lines: list[str]) -> BVHHierarchy:
    """Parse the lines before ``MOTION`` (iteratively: deep files cannot exhaust the stack). Several ``ROOT``
    blocks (disconnected parts) give a forest: each block's first joint has parent -1."""
    toks = _Tokens(path, lines)
    h = BVHHierarchy()
    toks.expect("HIERARCHY")
    toks.expect("ROOT")
    stack: list[int] = []
    seen: set[str] = set()  # a set: deep hierarchies of 10^4+ joints stay linear
    keyword = "ROOT"
    while True:
        if keyword in ("ROOT", "JOINT"):
            name, line = toks.next("a joint name")
            if name in seen:
                raise SkeletonFileError(path, f"line {line}", "a unique joint name", name)
            seen.add(name)
            h.names.append(name)
            h.parents.append(stack[-1] if stack else -1)
            toks.expect("{")
            h.offsets.append(toks.offset())
            h.channels.append(_parse_channels(toks) if _peek(toks) == "CHANNELS" else [])
            stack.append(len(h.names) - 1)
        elif keyword == "END":
            toks.expect("Site")
            toks.expect("{")
            h.end_sites.append((stack[-1], toks.offset()))
            toks.expect("}")
        else:  # "}"
            stack.pop()
            if not stack:
                if _peek(toks) != "ROOT":
                    break
                toks.next("ROOT")  # another ROOT block: a disconnected part, with its own position
                keyword = "ROOT"
                continue
        tok, line = toks.next("JOINT, End Site or '}'")
        keyword = tok.upper()
        if keyword not in ("JOINT", "END", "}"):
            raise SkeletonFileError(path, f"line {line}", "JOINT, End Site or '}'", tok)
    if toks.i != len(toks.items):
        tok, line = toks.items[toks.i]
        raise SkeletonFileError(path, f"line {line}", "MOTION or another ROOT after the root's closing '}'", tok)
    return h


def _peek(toks: _Tokens) -> str:
    return toks.items[toks.i][0].upper() if toks.i < len(toks.items) else ""


def _parse_channels(toks: _Tokens) -> list[str]:
    toks.expect("CHANNELS")
    tok, line = toks.next("a channel count")
    count = decimal_int(tok)
    if count is None or not 0 <= count <= 6:
        raise SkeletonFileError(toks.path, f"line {line}", "a channel count 0..6", tok[:40])
    names = []
    for _ in range(count):
        ch, line = toks.next(f"one of {_CHANNELS}")
        ch = ch.lower()
        if ch not in _CHANNELS:
            raise SkeletonFileError(toks.path, f"line {line}", f"a channel name, one of {_CHANNELS}", ch)
        if ch in names:
            raise SkeletonFileError(toks.path, f"line {line}", "each channel at most once per joint", ch)
        names.append(ch)
    return names


_FRAMES = re.compile(r"^\s*Frames\s*:\s*(\S+)\s*$", re.IGNORECASE)
_FRAME_TIME = re.compile(r"^\s*Frame\s+Time\s*:\s*(\S+)\s*$", re.IGNORECASE)


def _parse_motion(path: Path, lines: list[str], first: int, num_channels: int) -> tuple[np.ndarray, float]:
    """(frames, channels) float64 values and the frame time. ``first`` = index of the MOTION line."""
    def header(i: int, regex: re.Pattern, what: str) -> str:
        if i >= len(lines):
            raise SkeletonFileError(path, f"line {i + 1}", what, "end of file")
        m = regex.match(lines[i])
        if m is None:
            raise SkeletonFileError(path, f"line {i + 1}", what, lines[i][:60])
        return m.group(1)

    n_text = header(first + 1, _FRAMES, "'Frames: <count>'")
    n_frames = decimal_int(n_text)
    if n_frames is None or n_frames < 1:
        raise SkeletonFileError(path, f"line {first + 2}", "a frame count >= 1", n_text[:40])
    t_text = header(first + 2, _FRAME_TIME, "'Frame Time: <seconds>'")
    try:
        frame_time = float(t_text)
    except ValueError:
        frame_time = float("nan")
    if not (np.isfinite(frame_time) and frame_time > 0 and np.isfinite(1.0 / frame_time)):
        raise SkeletonFileError(path, f"line {first + 3}", "a positive frame time in seconds", t_text)
    body = lines[first + 3:]
    rows = [i for i, line in enumerate(body) if line.strip()]
    if len(rows) != n_frames:
        raise SkeletonFileError(path, "MOTION", f"{n_frames} frame lines (as 'Frames:' says)",
                                f"{len(rows)} lines")
    if num_channels == 0:
        return np.zeros((n_frames, 0)), frame_time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            values = np.loadtxt(io.StringIO("\n".join(body)), dtype=np.float64, ndmin=2, comments=None)
        except ValueError as e:
            raise SkeletonFileError(path, "MOTION", f"{num_channels} numbers per frame line",
                                    _locate(e, first + 4, rows)) from None
    if values.shape != (n_frames, num_channels):
        raise SkeletonFileError(path, "MOTION", f"{n_frames} frames x {num_channels} channel values",
                                tuple(values.shape))
    return values, frame_time


def _locate(err: ValueError, first_line: int, rows: list[int]) -> str:
    """numpy's message with its data row (0-based, blank lines skipped) turned into a file line number."""
    msg = str(err)
    m = re.search(r"row (\d+)", msg)
    if m is None or int(m.group(1)) >= len(rows):
        return msg
    return f"line {first_line + rows[int(m.group(1))]}: {msg}"


def forward_kinematics(h: BVHHierarchy, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global positions (T, J, 3) and rotations (T, J, 3, 3) from per-frame channel values (T, C)."""
    T, J = values.shape[0], len(h.names)
    pos = np.empty((T, J, 3))
    rot = np.empty((T, J, 3, 3))
    col = 0
    with np.errstate(all="ignore"):
        for j in range(J):
            chans = h.channels[j]
            vals = values[:, col:col + len(chans)]
            col += len(chans)
            trans = np.broadcast_to(h.offsets[j], (T, 3)).copy()
            axes = ""
            angle_cols = []
            for k, ch in enumerate(chans):
                if ch.endswith("position"):
                    trans[:, "xyz".index(ch[0])] += vals[:, k]
                else:
                    axes += ch[0].upper()
                    angle_cols.append(k)
            if axes:
                angles = vals[:, angle_cols]
                finite = np.isfinite(angles).all(1)
                local = np.full((T, 3, 3), np.nan)
                if finite.any():
                    # upper-case axes = intrinsic rotations: R = R_a1 @ R_a2 @ R_a3 in declared order
                    local[finite] = Rotation.from_euler(axes, angles[finite], degrees=True).as_matrix()
            else:
                local = np.broadcast_to(np.eye(3), (T, 3, 3))
            p = h.parents[j]
            if p < 0:
                rot[:, j] = local
                pos[:, j] = trans
            else:
                rot[:, j] = rot[:, p] @ local
                pos[:, j] = pos[:, p] + np.einsum("tab,tb->ta", rot[:, p], trans)
    return pos, rot


def _rest_height(h: BVHHierarchy) -> float:
    """Vertical extent (y) of the skeleton in its zero-rotation pose, in file units."""
    rest = np.zeros((len(h.names), 3))
    for j, p in enumerate(h.parents):
        rest[j] = (rest[p] if p >= 0 else 0) + h.offsets[j]
    return float(np.ptp(rest[:, 1])) if len(rest) else 0.0


def _guess_units(height: float) -> str:
    if 1.0 <= height <= 2.5:
        return "m"
    if 100.0 <= height <= 250.0:
        return "cm"
    return "unknown"


_LABEL_CACHE: dict[str, tuple[int, dict[str, tuple[str, str]]]] = {}


def _cmu_labels(folder: Path) -> dict[str, tuple[str, str]]:
    """motion_id -> (short_label, long_label) from ``cmu_motion_labels.csv`` (rows it cannot read are
    skipped: the labels are optional metadata, the motion is the file)."""
    csv_path = folder / LABELS_CSV
    try:
        stamp = csv_path.stat().st_mtime_ns
    except OSError:
        return {}
    hit = _LABEL_CACHE.get(str(csv_path))
    if hit is not None and hit[0] == stamp:
        return hit[1]
    labels: dict[str, tuple[str, str]] = {}
    try:
        text = read_side_text(csv_path)
        if text is None:
            raise OSError(csv_path)
        with io.StringIO(text, newline="") as f:
            for row in csv.reader(f):
                if len(row) >= 3 and row[0] and row[0] != "motion_id":
                    labels[row[0].strip()] = (row[1].strip(), row[2].strip())
    except (OSError, csv.Error):
        return {}
    _LABEL_CACHE[str(csv_path)] = (stamp, labels)
    return labels


def bvh_format(names: list[str], parents: list[int], units: str) -> SkeletonFormat:
    """A SkeletonFormat for a BVH hierarchy; its name is a hash of the joints and parents, so every
    file with the same hierarchy gets an equal format."""
    digest = hashlib.sha1(repr((names, parents)).encode()).hexdigest()[:8]
    return SkeletonFormat(name=f"bvh{len(names)}_{digest}", joints=tuple(names), parents=tuple(parents),
                          parts=parts_from_names(names), mirror_pairs=mirror_pairs_from_names(names),
                          up_axis="y", units=units, dims=3, description="from a BVH hierarchy")


def read_bvh(path: Path, *, scale: float = 1.0, units: str | None = None, end_sites: bool = False,
             labels: bool = True) -> SkeletonSequence:
    """A BVH file: positions (T, 1, J, 3) by forward kinematics, orientations (T, 1, J, 3, 3) global
    joint rotations, fps = 1 / Frame Time.

    Args:
        scale: multiplies positions (CMU files are in centimetre-like units: ``scale=0.01`` for metres).
        units: unit name recorded in the format and ``meta["units"]``; guessed from the rest-pose
            height after scaling when not given (1-2.5 -> "m", 100-250 -> "cm", else "unknown").
        end_sites: also return each ``End Site`` as a joint named ``<parent>_end``.
        labels: read ``cmu_motion_labels.csv`` beside the file (short label -> ``label_name``, long
            label -> ``text``) when it is there.
    """
    path = Path(path)
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        scale = float("nan")
    if not np.isfinite(scale) or scale <= 0:
        raise SkeletonFileError(path, "scale", "a positive number", scale)
    text = read_text(path)
    lines = text.splitlines()
    motion = next((i for i, line in enumerate(lines) if line.strip().upper() == "MOTION"), None)
    if motion is None:
        raise SkeletonFileError(path, "MOTION", "a MOTION line after the hierarchy", "none")
    h = parse_hierarchy(path, lines[:motion])
    values, frame_time = _parse_motion(path, lines, motion, h.num_channels)
    joints = len(h.names) + (len(h.end_sites) if end_sites else 0)  # joints without channels cost no text
    check_dense_size(path, "Frames x joints", (len(values), joints, 3 + 9), len(text))
    pos, rot = forward_kinematics(h, values)
    names, parents = list(h.names), list(h.parents)
    if end_sites:
        ends = np.array([off for _, off in h.end_sites]).reshape(-1, 3)
        owners = [j for j, _ in h.end_sites]
        with np.errstate(all="ignore"):
            end_pos = pos[:, owners] + np.einsum("tjab,jb->tja", rot[:, owners], ends)
        pos = np.concatenate([pos, end_pos], axis=1)
        rot = np.concatenate([rot, rot[:, owners]], axis=1)
        for j in owners:
            name = f"{h.names[j]}_end"
            while name in names:
                name += "_"
            names.append(name)
            parents.append(j)
    height = _rest_height(h) * scale
    units = str(units) if units is not None else _guess_units(height)
    fmt = bvh_format(names, parents, units)
    with np.errstate(all="ignore"):
        pos = pos * scale
        ok = np.isfinite(pos).all(-1) & np.isfinite(rot).all((-2, -1)) & (np.abs(pos) < 1e30).all(-1)
    rot[~ok] = np.eye(3)
    meta = {"dataset": "bvh", "units": units, "scale": scale, "rest_height": height, "frame_time": frame_time,
            "clip": path.stem}
    m = re.fullmatch(r"(\d+)_(\d+)", path.stem)
    if m is not None:
        meta.update(subject=int(m.group(1)), trial=int(m.group(2)))
    if labels:
        found = _cmu_labels(path.parent).get(path.stem)
        if found is not None:
            meta.update(dataset="cmu_mocap", label_name=found[0] or None, text=found[1] or None)
    fps = 1.0 / frame_time
    if abs(fps - round(fps)) < 1e-4 * fps:  # Frame Time is written with ~6 digits: 0.0333333 -> 30 fps
        fps = float(round(fps))
    return SkeletonSequence(positions=pos[:, None].astype(np.float32), mask=ok[:, None], fps=fps,
                            format=fmt, meta=meta, orientations=rot[:, None].astype(np.float32))
