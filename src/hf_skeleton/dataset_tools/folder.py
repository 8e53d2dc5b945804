"""Any folder of clips as a dataset: ``hf-skeleton convert RAW_DIR OUT_DIR --dataset folder --labels labels.csv``.

``RAW_DIR`` holds one clip per file, in any format :func:`hf_skeleton.load_skeleton` reads (a folder of
per-frame OpenPose JSON counts as one clip; plain ``.npy``/``.npz`` arrays need ``format=``). ``labels.csv``
(UTF-8, header row, column names case-insensitive) lists the clips:

- ``file`` (required): the clip's path relative to RAW_DIR, inside it. It is the row ``id`` unless an ``id``
  column gives one.
- ``label``: the class. The dataset's ``label`` column is a ``ClassLabel`` whose names are the distinct labels
  sorted as strings; ``label_name`` keeps the text.
- ``text``: a caption (string column ``text``).
- ``split``: the split of each clip (``train``, ``test``, any name ``datasets`` accepts). Without it, a seeded,
  class-stratified split (:func:`stratified_split`: ``test_size`` 0.2, ``seed`` 0 by default).
- ``id``: a unique row id.

labels.csv is the only source of labels and texts (what a file itself records, e.g. an N-UCLA label, is not
used). Other columns are ignored. A bad row (an empty cell in one of these columns, a path outside RAW_DIR or
naming nothing, a file or id listed twice, a split name ``datasets`` refuses, more cells than the header) is a
:class:`~hf_skeleton.errors.SkeletonFileError` naming labels.csv, the line and the column; with ``skip_bad``
it is left out and listed in the card, like an unreadable clip. Files in RAW_DIR that labels.csv does not list
are ignored; the card says how many.

Layout: ``format=`` forces one (a registered format or reader name, a :class:`SkeletonFormat`, a dict, or a
``FORMAT.json`` file of :meth:`SkeletonFormat.to_dict` output); otherwise each file's own. One configuration
per joint count (``default`` when all clips share one, else ``joints<J>`` like the CMU source, the most common
first); every row stores its exact layout in ``format_spec``. ``fps=`` is the frame rate of files that record
none (N-UCLA JSON, OpenPose, plain arrays; without it the readers' defaults, 30 for arrays); BVH (Frame Time),
TRC (DataRate) and ``.npz`` files with an ``fps`` entry keep their own. Clips with more than two persons keep the
first two (``positions``/``positions_2``, the latter only in configurations where some clip has two).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HFSkeletonError, SkeletonFileError, SkeletonFormatError, SkeletonInputError
from ..skeletons.formats import SkeletonFormat, format_for_config, get_format, list_formats
from ..skeletons.io import list_readers, load_skeleton, reader_for
from ..skeletons.readers._common import open_regular
from .features import sequence_to_example, skeleton_features
from .sources import SOURCES, Item, Scan, Source, _limit, _Skips, bvh_joint_count

DEFAULT_TEST_SIZE = 0.2
DEFAULT_SEED = 0
COLUMNS = ("file", "id", "label", "text", "split")
_SPLIT_NAME = re.compile(r"\w+(\.\w+)*")  # what datasets accepts as a split name
_SPLIT_ORDER = ("train", "validation", "test")
_OWN_FPS_READERS = ("trc",)  # readers whose fps= would override a rate the file records


# ---------------------------------------------------------------------- the skeleton format option
def format_from_json(path: str | Path) -> SkeletonFormat:
    """A :class:`SkeletonFormat` from a JSON file of :meth:`SkeletonFormat.to_dict` output; anything else is a
    :class:`SkeletonFileError` naming the file and the field."""
    path = Path(path)
    try:
        with open_regular(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as e:
        raise SkeletonFileError(path, "encoding", "UTF-8 JSON", f"{e.reason} at byte {e.start}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SkeletonFileError(path, f"line {e.lineno}", "JSON (a SkeletonFormat.to_dict() object)", e.msg) from None
    if not isinstance(data, dict):
        raise SkeletonFileError(path, None, "a JSON object (SkeletonFormat.to_dict() output)", type(data).__name__)
    _check_format_types(path, data)
    try:
        return SkeletonFormat.from_dict(data)
    except SkeletonFormatError as e:
        raise SkeletonFileError(path, e.field or "keys", message=f"{path}: field {e.field or 'keys'}: {e}") from None
    except (TypeError, ValueError) as e:
        raise SkeletonFileError(path, None, "a SkeletonFormat definition", f"{type(e).__name__}: {e}") from None


def _check_format_types(path: Path, data: Mapping[str, Any]) -> None:
    """JSON types of the fields :meth:`SkeletonFormat.from_dict` reads, so a wrong type names its field."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    checks = {
        "name": (lambda v: isinstance(v, str), "a string"),
        "joints": (lambda v: isinstance(v, list) and all(isinstance(j, str) for j in v), "a list of joint names"),
        "parents": (lambda v: isinstance(v, list) and all(map(is_int, v)), "a list of parent ids (-1 for the root)"),
        "parts": (lambda v: isinstance(v, dict) and all(isinstance(i, list) and all(map(is_int, i))
                                                        for i in v.values()), "an object: part -> list of joint ids"),
        "mirror_pairs": (lambda v: isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and
                                                               all(map(is_int, p)) for p in v),
                         "a list of [left, right] joint id pairs"),
        "up_axis": (lambda v: isinstance(v, str), "a string such as \"y\""),
        "units": (lambda v: isinstance(v, str), "a string such as \"m\""),
        "dims": (is_int, "2 or 3"),
        "description": (lambda v: isinstance(v, str), "a string"),
    }
    for key, (ok, expected) in checks.items():
        if key in data and not ok(data[key]):
            raise SkeletonFileError(path, key, expected, data[key])


def resolve_format(value: Any) -> tuple[str | dict[str, Any] | None, int | None]:
    """``format=`` as stored for the workers (a reader or registered format name, or a definition dict) and
    its joint count (None: read from each file). Accepts None, a reader name, a registered format name, a
    ``FORMAT.json`` path, a :class:`SkeletonFormat` or a dict."""
    if value is None:
        return None, None
    if isinstance(value, Mapping) or type(value).__name__ == "SkeletonFormat":
        fmt = get_format(value)
        return format_for_config(fmt), fmt.num_joints
    if isinstance(value, os.PathLike) or isinstance(value, str) and value.lower().endswith(".json"):
        fmt = format_from_json(value)
        return format_for_config(fmt), fmt.num_joints
    if isinstance(value, str):
        if value in list_readers():
            return value, None
        try:
            return value, get_format(value).num_joints
        except HFSkeletonError:
            pass
    raise SkeletonInputError("format", f"a registered skeleton format {list_formats()}, a reader name "
                                       f"{sorted(list_readers())}, a FORMAT.json file or a SkeletonFormat", value)


def _stored_format(stored: str | dict[str, Any] | None) -> str | SkeletonFormat | None:
    return SkeletonFormat.from_dict(stored) if isinstance(stored, dict) else stored


def load_clip(path: str | Path, stored_format: str | dict[str, Any] | None = None,
              fps: float | None = None):
    """:func:`load_skeleton` of one listed clip: the forced format, and ``fps`` for readers whose files record
    no frame rate (not BVH, TRC; an ``.npz`` ``fps`` entry still wins)."""
    fmt = _stored_format(stored_format)
    kwargs = {}
    if fps is not None:
        spec = reader_for(path, fmt if isinstance(fmt, str) else None)
        if "fps" in (spec.options() or []) and spec.name not in _OWN_FPS_READERS:
            kwargs["fps"] = float(fps)
    return load_skeleton(path, format=fmt, **kwargs)


def _peek(path: Path, stored, joints: int | None, fps: float | None) -> tuple[int, int]:
    """(joints, persons) of a listed clip: from a BVH header without parsing motion, else by reading it."""
    if path.is_file() and path.suffix.lower() == ".bvh" and (stored in (None, "bvh") or joints is not None):
        return (joints if joints is not None else bvh_joint_count(path)), 1
    seq = load_clip(path, stored, fps)
    return seq.num_joints, seq.num_persons


# ---------------------------------------------------------------------- labels.csv
@dataclass(frozen=True)
class LabelRow:
    line: int
    file: str  # as listed, normalised (posix, no "./")
    path: Path
    id: str
    label: str | None = None
    text: str | None = None
    split: str | None = None


@dataclass
class LabelTable:
    path: Path
    columns: tuple[str, ...]  # the recognised columns present, in COLUMNS order
    rows: list[LabelRow]
    mentioned: set[str] = field(default_factory=set)  # every normalised `file` cell, good rows or bad
    ignored_columns: list[str] = field(default_factory=list)


def labels_path(raw_dir: str | Path, labels: str | Path) -> Path:
    """Where ``labels`` is: absolute as given; a relative path in RAW_DIR first, then the current folder."""
    p = Path(labels)
    for candidate in ([p] if p.is_absolute() else [Path(raw_dir) / p, p]):
        if os.path.lexists(candidate):
            return candidate
    raise SkeletonFileError(p, None, "a labels.csv file (a relative path is looked up in RAW_DIR, then in the "
                                     "current folder)", "no such file")


def read_labels(path: Path, raw_dir: Path, skips: _Skips | None = None) -> LabelTable:
    """Parse and check ``labels.csv`` (see the module docstring). A bad header or an unreadable file is a
    :class:`SkeletonFileError`; a bad row is one too, or with ``skips`` (skip_bad) left out and recorded."""
    skips = skips or _Skips(False)
    try:
        with open_regular(path, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    except UnicodeDecodeError as e:
        raise SkeletonFileError(path, "encoding", "UTF-8 text", f"{e.reason} at byte {e.start}") from None
    reader = csv.reader(io.StringIO(text))
    header, end, records = None, 0, []
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue  # blank line
            if header is None:
                header = (start, [c.strip().lower() for c in cells])
            else:
                records.append((start, cells))
    except csv.Error as e:
        raise SkeletonFileError(path, f"line {reader.line_num}", "CSV text", str(e)) from None
    if header is None:
        raise SkeletonFileError(path, None, "a header row naming a `file` column", "an empty file")
    names = header[1]
    dup = sorted({n for n in names if n in COLUMNS and names.count(n) > 1})
    if dup or "file" not in names:
        raise SkeletonFileError(path, f"line {header[0]} (header)", "a `file` column and any of "
                                f"{', '.join(COLUMNS[1:])}, each once", names)
    col = {n: names.index(n) for n in COLUMNS if n in names}
    table = LabelTable(path, tuple(col), [], ignored_columns=[n for n in names if n not in COLUMNS])
    seen_files: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    for line, cells in records:
        file_cell = cells[col["file"]].strip() if col["file"] < len(cells) else ""
        if file_cell and not Path(file_cell).is_absolute():
            table.mentioned.add(Path(os.path.normpath(file_cell)).as_posix())
        row = skips.check(path, lambda line=line, cells=cells: _row(path, raw_dir, line, cells, names, col,
                                                                    seen_files, seen_ids))
        if row is not None:
            table.rows.append(row)
            seen_files[row.file], seen_ids[row.id] = line, line
    if not table.rows and not skips.skipped:
        raise SkeletonFileError(path, None, "at least one row after the header", "none")
    return table


def _row(path: Path, raw_dir: Path, line: int, cells: list[str], names: list[str], col: dict[str, int],
         seen_files: dict[str, int], seen_ids: dict[str, int]) -> LabelRow:
    def fail(column: str, expected: str, found: Any):
        raise SkeletonFileError(path, f"line {line}, column {column!r}", expected, found)

    if len(cells) > len(names):
        fail(str(len(names) + 1), f"at most {len(names)} cells (the header's)", len(cells))
    values = {n: (cells[i].strip() if i < len(cells) else "") for n, i in col.items()}
    for name, value in values.items():
        if not value:
            fail(name, "a non-empty value", cells[col[name]] if col[name] < len(cells) else None)
    rel = Path(values["file"])
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or os.path.normpath(values["file"]) == ".":
        fail("file", "a path relative to RAW_DIR, inside it", values["file"])
    file = Path(os.path.normpath(values["file"])).as_posix()
    full = raw_dir / file
    if not os.path.lexists(full):
        fail("file", f"a file in RAW_DIR ({raw_dir})", "no such file")
    if not (full.is_file() or full.is_dir()):
        fail("file", "a regular file (or a folder of per-frame files)", "a special file or a dangling link")
    if file in seen_files:
        fail("file", f"a file not listed before (line {seen_files[file]} lists it)", values["file"])
    split = values.get("split")
    if split is not None and not _SPLIT_NAME.fullmatch(split):
        fail("split", "a split name of letters, digits and underscores (train, test, ...)", split)
    row_id = values.get("id", file)
    if row_id in seen_ids:
        fail("id" if "id" in values else "file", f"a unique id (line {seen_ids[row_id]} has it)", row_id)
    return LabelRow(line, file, full, row_id, values.get("label"), values.get("text"), split)


def stratified_split(labels: Sequence[Any], test_size: float = DEFAULT_TEST_SIZE, seed: int = DEFAULT_SEED) -> list[str]:
    """``"train"``/``"test"`` per clip: within each class (``labels``; None = one class for all), a seeded random
    ``round(test_size * n)`` clips (halves up) go to test, at least 1 and at most n - 1 when the class has
    n >= 2 clips, so such a class is in both splits; a class with one clip stays in train. Classes are visited
    in sorted order with one ``numpy.random.default_rng(seed)``: the same input and seed give the same split."""
    out = ["train"] * len(labels)
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault("" if label is None else str(label), []).append(i)
    rng = np.random.default_rng(seed)
    for key in sorted(groups):
        idx = groups[key]
        n = len(idx)
        if n < 2 or test_size <= 0:
            continue
        k = min(max(math.floor(test_size * n + 0.5), 1), n - 1)
        for j in rng.permutation(n)[:k]:
            out[idx[j]] = "test"
    return out


def _check_number(name: str, value: Any, lo: float, hi: float, lo_open: bool, integer: bool = False):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > lo if lo_open else value >= lo) and value < hi
    if ok and integer:
        ok = float(value).is_integer()
    if not ok:
        kind = "a whole number" if integer else "a number"
        raise SkeletonInputError(name, f"{kind} in {'(' if lo_open else '['}{lo:g}, {hi:g})", value)


# ---------------------------------------------------------------------- the source
class FolderSource(Source):
    name = "folder"
    pretty_name = "Skeleton clips from a folder (labels.csv)"
    license = "unknown"
    upstream = "The user's own recordings: one clip per file in RAW_DIR, listed in labels.csv"
    layout = ("one configuration per joint count (`default` when every clip has the same one); the skeleton "
              "format forced with --format, else each file's own; every row stores its layout (`format_spec`)")
    description = ("Clips listed in a labels.csv (`file`, and any of `label`, `text`, `split`, `id`), converted "
                   "with `hf-skeleton convert RAW_DIR OUT_DIR --dataset folder --labels labels.csv` or "
                   "`hf_skeleton.dataset_tools.from_folder` / `from_arrays`. The license is the data owner's.")
    options = ("labels", "format", "fps", "test_size", "seed")

    def scan(self, raw_dir, limit=None, skip_bad=False, *, labels: str | Path = "labels.csv", format: Any = None,
             fps: float | None = None, test_size: float = DEFAULT_TEST_SIZE, seed: int = DEFAULT_SEED):
        raw_dir = Path(raw_dir)
        if not raw_dir.is_dir():
            raise SkeletonFileError(raw_dir, None, "a folder of clips", "no such folder")
        if fps is not None:
            _check_number("fps", fps, 0, math.inf, lo_open=True)
        _check_number("test_size", test_size, 0, 1, lo_open=False)
        _check_number("seed", seed, 0, 2**32, lo_open=False, integer=True)
        stored, joints = resolve_format(format)
        skips = _Skips(skip_bad)
        table = read_labels(labels_path(raw_dir, labels), raw_dir, skips)
        shapes = []
        for row in _limit(table.rows, limit):
            shape = skips.check(row.path, lambda row=row: _peek(row.path, stored, joints, fps))
            if shape is not None:
                shapes.append((row, *shape))
        rows = [r for r, _, _ in shapes]
        splits = ([r.split for r in rows] if "split" in table.columns else
                  stratified_split([r.label for r in rows], test_size, int(seed)))
        counts: dict[int, int] = {}
        for _, J, _ in shapes:
            counts[J] = counts.get(J, 0) + 1
        order = sorted(counts, key=lambda J: (-counts[J], J))
        names = {J: "default" if len(order) == 1 else f"joints{J}" for J in order}
        items = [Item(str(r.path), r.id, s, names[J], {"label": r.label, "text": r.text})
                 for (r, J, _), s in zip(shapes, splits)]
        present = {s for s in splits}
        split_order = [s for s in _SPLIT_ORDER if s in present] + sorted(present - set(_SPLIT_ORDER))
        configs = {names[J]: {s: [f"{names[J]}/{s}"] for s in split_order
                              if any(i.group == s and i.config == names[J] for i in items)} for J in order}
        label_names = sorted({r.label for r in rows}) if "label" in table.columns else None
        info = {"format": stored, "fps": None if fps is None else float(fps), "label_names": label_names,
                "columns": [c for c in ("label", "text") if c in table.columns],
                "joints": {names[J]: J for J in order},
                "second_person": {names[J]: any(P > 1 for _, j, P in shapes if j == J) for J in order}}
        notes = self._notes(raw_dir, table, shapes, stored, fps, test_size, seed, label_names)
        return Scan(items, configs, notes=notes, features_info=info, skipped=skips.skipped)

    @staticmethod
    def _notes(raw_dir, table, shapes, stored, fps, test_size, seed, label_names) -> list[str]:
        notes = ["Clips are listed in labels.csv (`file`, relative to RAW_DIR); `id` is "
                 + ("its `id` column." if "id" in table.columns else "the listed `file` path.")]
        if label_names is not None:
            notes.append(f"`label` is a ClassLabel whose {len(label_names)} names are labels.csv's distinct "
                         "`label` values sorted as strings; `label_name` keeps the text.")
        if "text" in table.columns:
            notes.append("`text` is labels.csv's `text` column.")
        if "split" in table.columns:
            notes.append("Splits come from labels.csv's `split` column.")
        else:
            notes.append(f"labels.csv has no `split` column: seeded class-stratified split, test_size={test_size:g}, "
                         f"seed={int(seed)} (per class round(test_size * n) clips in test, at least 1 and at most "
                         "n - 1 when n >= 2; a single-clip class stays in train).")
        fmt = ("each file's own layout" if stored is None else
               "forced with --format: a user-defined format (stored in every row's `format_spec`)"
               if isinstance(stored, dict) else f"forced with --format: reader `{stored}`"
               if stored in list_readers() else "forced with --format: a registered format")
        notes.append(f"Skeleton format: {fmt}.")
        notes.append(f"Frame rate of files that record none: {fps:g} fps (--fps)." if fps is not None else
                     "Frame rate of files that record none: the readers' defaults (30 fps for arrays; --fps unset).")
        many = sum(P > 2 for _, _, P in shapes)
        if many:
            notes.append(f"{many} clip(s) hold more than two persons: the first two are kept.")
        if table.ignored_columns:
            notes.append(f"{len(table.ignored_columns)} other labels.csv column(s) ignored.")
        notes.append(f"{_unlisted(raw_dir, table)} file(s) in RAW_DIR not listed in labels.csv were ignored.")
        return notes

    def features(self, config, info):
        cols = (("label_name",) if "label" in info["columns"] else ()) + (("text",) if "text" in info["columns"]
                                                                        else ())
        return skeleton_features(info["joints"][config], label_names=info["label_names"],
                                 second_person=info["second_person"][config], meta_columns=cols)

    def to_example(self, item, info):
        seq = load_clip(item.path, info["format"], info["fps"])
        J = info["joints"][item.config]
        if seq.num_joints != J:
            raise SkeletonFileError(item.path, "joints", f"{J} joints as scanned", seq.num_joints)
        if seq.num_persons > 2:
            seq = seq.copy(positions=seq.positions[:, :2], mask=seq.mask[:, :2], orientations=None)
        label = None
        if "label" in info["columns"]:
            label = info["label_names"].index(item.info["label"])
            seq.meta["label_name"] = item.info["label"]
        if "text" in info["columns"]:
            seq.meta["text"] = item.info["text"]
        cols = (("label_name",) if label is not None else ()) + (("text",) if "text" in info["columns"] else ())
        return sequence_to_example(seq, id=item.id, label=label, meta_columns=cols,
                                   second_person=info["second_person"][item.config])


def _unlisted(raw_dir: Path, table: LabelTable) -> int:
    """Regular files below RAW_DIR that labels.csv does not mention (files inside a listed folder and
    labels.csv itself do not count)."""
    listed = table.mentioned
    try:
        own = table.path.resolve().relative_to(raw_dir.resolve()).as_posix()
    except ValueError:
        own = None
    count = 0
    for p in raw_dir.rglob("*"):
        rel = p.relative_to(raw_dir).as_posix()
        if not p.is_file() or rel == own or rel in listed:
            continue
        if any(parent.as_posix() in listed for parent in Path(rel).parents):
            continue
        count += 1
    return count


SOURCES[FolderSource.name] = FolderSource()

__all__ = ["COLUMNS", "DEFAULT_SEED", "DEFAULT_TEST_SIZE", "FolderSource", "LabelRow", "LabelTable",
           "format_from_json", "labels_path", "load_clip", "read_labels", "resolve_format", "stratified_split"]
