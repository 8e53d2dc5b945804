"""Build a converted dataset from one's own data: a folder listed by a labels.csv (:func:`from_folder`), or
in-memory clips (:func:`from_arrays`). Both write the usual layout (parquet shards + dataset card) through
:func:`~hf_skeleton.dataset_tools.convert_dataset` and the ``folder`` source (:mod:`.folder`), so locking, the
atomic swap, ``on_error="skip"`` and the card behave as for every other dataset."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SkeletonInputError
from ..skeletons.formats import SkeletonFormat, get_format
from ..skeletons.sequence import SkeletonSequence
from .convert import ConversionResult, convert_dataset
from .folder import _SPLIT_NAME, DEFAULT_SEED, DEFAULT_TEST_SIZE


def from_folder(raw_dir: str | Path, out_dir: str | Path, labels: str | Path = "labels.csv", format: Any = None,
                fps: float | None = None, *, test_size: float = DEFAULT_TEST_SIZE, seed: int = DEFAULT_SEED,
                on_error: str = "raise", overwrite: bool = False, num_shards: int | None = None,
                max_rows_per_shard: int = 1000, num_proc: int = 1, limit: int | None = None,
                progress: bool = True) -> ConversionResult:
    """Convert a folder of clips listed in ``labels.csv`` (``hf-skeleton convert RAW_DIR OUT_DIR --dataset
    folder``); the rules of labels.csv, formats, frame rates and configurations are in :mod:`.folder`.

    Args:
        raw_dir: the folder holding one clip per file.
        out_dir: where ``README.md`` and ``data/`` go (see :func:`convert_dataset`).
        labels: the labels.csv; a relative path is looked up in ``raw_dir``, then in the current folder.
        format: force a skeleton format: a registered name (``"kinect_v1"``), a reader name, a ``FORMAT.json``
            path (:meth:`SkeletonFormat.to_dict` output), a :class:`SkeletonFormat` or a dict. Plain
            ``.npy``/``.npz`` arrays need it.
        fps: frame rate of files that record none.
        test_size, seed: the class-stratified split used when labels.csv has no ``split`` column.
        on_error: ``"raise"`` (the first bad row or clip is a typed error) or ``"skip"`` (left out, listed in
            the card). Other arguments: as :func:`convert_dataset`.

    Returns:
        The :class:`ConversionResult`; read the output with ``datasets.load_dataset(out_dir)`` or
        :func:`~hf_skeleton.dataset_tools.load_converted`.
    """
    options = {"labels": labels, "format": format, "fps": fps, "test_size": test_size, "seed": seed}
    return convert_dataset(raw_dir, out_dir, "folder", num_shards=num_shards, max_rows_per_shard=max_rows_per_shard,
                           num_proc=num_proc, limit=limit, on_error=on_error, overwrite=overwrite, progress=progress,
                           source_options=options)


def _column(name: str, values: Sequence[Any] | None, n: int, *, split: bool = False) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) and not hasattr(values, "__len__"):
        raise SkeletonInputError(name, f"a sequence of one value per clip ({n})", type(values).__name__)
    values = list(values)
    if len(values) != n:
        raise SkeletonInputError(name, f"one value per clip ({n})", len(values))
    out = []
    for i, v in enumerate(values):
        text = "" if v is None else str(v).strip()
        if not text or (split and not _SPLIT_NAME.fullmatch(text)):
            raise SkeletonInputError(f"{name}[{i}]", "a split name such as train or test" if split else
                                     "a non-empty value", v)
        out.append(text)
    return out


def _clip_arrays(i: int, clip: Any, fmt: SkeletonFormat | None) -> tuple[dict[str, np.ndarray], SkeletonFormat | None]:
    """What goes into clip ``i``'s ``.npz``: positions (T, P, J, 3), and mask + fps for a sequence."""
    if isinstance(clip, SkeletonSequence):
        if fmt is not None and clip.format != fmt:
            raise SkeletonInputError(f"clips[{i}].format", f"the format {fmt.name!r} of format= and the other clips "
                                     "(convert with seq.to_format(...) first)", clip.format.name)
        return {"positions": clip.positions, "mask": clip.mask, "fps": np.float64(clip.fps)}, clip.format
    arr = np.asarray(clip)
    if fmt is None:
        raise SkeletonInputError("format", "a skeleton format for array clips (a name, SkeletonFormat, dict or "
                                 "FORMAT.json)", None)
    J = fmt.num_joints
    if arr.dtype.kind not in "biuf" or arr.ndim not in (3, 4) or arr.shape[0] < 1 or arr.shape[-2:] != (J, 3):
        raise SkeletonInputError(f"clips[{i}]", f"a numeric array (T, {J}, 3) or (T, P, {J}, 3) for format "
                                 f"{fmt.name!r}", f"{arr.dtype} {arr.shape}")
    return {"positions": arr.astype(np.float32)}, fmt


def from_arrays(out_dir: str | Path, clips: Sequence[Any], labels: Sequence[Any] | None = None,
                texts: Sequence[Any] | None = None, splits: Sequence[str] | None = None, format: Any = None,
                fps: float | None = None, *, ids: Sequence[Any] | None = None, test_size: float = DEFAULT_TEST_SIZE,
                seed: int = DEFAULT_SEED, overwrite: bool = False, num_shards: int | None = None,
                max_rows_per_shard: int = 1000, num_proc: int = 1, progress: bool = True) -> ConversionResult:
    """The same dataset layout as :func:`from_folder`, from clips in memory.

    Args:
        clips: (T, J, 3) / (T, P, J, 3) arrays and/or :class:`SkeletonSequence` objects (their mask and fps are
            kept), all in one skeleton format.
        labels, texts, splits, ids: one value per clip, or None (no such column; ids default to
            ``clip_00000``...; without splits, the seeded class-stratified split of :func:`from_folder`).
        format: the clips' skeleton format (as ``from_folder``'s); required for arrays, and sequences must have
            it; default: the sequences' own format.
        fps: frame rate of the array clips (default 30).
        Other arguments: as :func:`from_folder`.

    The clips are written as ``.npz`` files with a labels.csv into a temporary folder (removed afterwards),
    which is converted with :func:`from_folder`.
    """
    if isinstance(clips, (np.ndarray, SkeletonSequence, str, bytes)) or not hasattr(clips, "__iter__"):
        raise SkeletonInputError("clips", "a list of clips (arrays or SkeletonSequences; a stacked array is "
                                 "ambiguous: pass list(array))", type(clips).__name__)
    clips = list(clips)
    n = len(clips)
    if n == 0:
        raise SkeletonInputError("clips", "at least one clip", 0)
    cols = {"label": _column("labels", labels, n), "text": _column("texts", texts, n),
            "split": _column("splits", splits, n, split=True)}
    id_values = _column("ids", ids, n) or [f"clip_{i:05d}" for i in range(n)]
    if len(set(id_values)) != n:
        raise SkeletonInputError("ids", "unique ids", sorted({v for v in id_values if id_values.count(v) > 1})[:5])
    fmt = get_format(format) if format is not None else None
    if fmt is None:
        fmt = next((c.format for c in clips if isinstance(c, SkeletonSequence)), None)
    with tempfile.TemporaryDirectory(prefix="hf-skeleton-arrays-") as tmp:
        folder = Path(tmp)
        header = ["file", "id"] + [c for c, v in cols.items() if v is not None]
        rows = []
        for i, clip in enumerate(clips):
            arrays, fmt = _clip_arrays(i, clip, fmt)
            np.savez(folder / f"{i:05d}.npz", **arrays)
            rows.append([f"{i:05d}.npz", id_values[i]] + [v[i] for v in cols.values() if v is not None])
        with open(folder / "labels.csv", "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([header, *rows])
        return from_folder(folder, out_dir, folder / "labels.csv", format=fmt, fps=fps, test_size=test_size,
                           seed=seed, overwrite=overwrite, num_shards=num_shards, max_rows_per_shard=max_rows_per_shard,
                           num_proc=num_proc, progress=progress)


__all__ = ["from_arrays", "from_folder"]
