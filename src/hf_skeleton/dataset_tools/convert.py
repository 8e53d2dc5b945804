"""Convert a raw dataset folder into sharded parquet files with explicit features and a dataset card.

Output layout (``out_dir``)::

    README.md                                  dataset card: YAML metadata (license, task categories,
                                               tags, configs -> data files) and the joint layout
    data/<config>/<group>-00000-of-00003.parquet

Writing is safe against concurrent writers and interrupts: a lock file in ``out_dir`` lets one conversion
at a time write there (a second one gets a :class:`~hf_skeleton.errors.SkeletonFileError`); shards and card
are written into a hidden temporary folder beside them and swapped in only when complete, so ``out_dir``
holds either the complete previous output or the complete new one (see :func:`convert_dataset`).

Rows keep the scan order inside each shard group, shards are contiguous slices, so
``load_dataset("parquet", data_files=...)`` in memory and with ``streaming=True`` yield the same
examples in the same order. Shards are written in parallel (``num_proc`` processes), each worker
reading its clips with :func:`hf_skeleton.load_skeleton`.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HFSkeletonError, SkeletonFileError, SkeletonInputError
from .card import CARD_NAME, read_card_configs, write_card
from .sources import SOURCES, Item, Scan, Source

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the lock file's existence is the lock
    fcntl = None

LOCK_NAME = ".hf-skeleton-convert.lock"
_TMP, _OLD, _MANIFEST = ".hf-skeleton-tmp-", ".hf-skeleton-old-", "moved.json"  # hidden: loaders skip them
_SHARD = re.compile(r"[^/]+/[^/]+-\d{5}-of-\d{5}\.parquet")  # data/<config>/<group>-00000-of-00003.parquet


@dataclass
class ConversionResult:
    """What :func:`convert_dataset` wrote: data files per config and split (paths relative to
    ``out_dir``, in order), row counts, skipped clips ``(id, reason)`` and the wall time."""

    out_dir: Path
    dataset: str
    data_files: dict[str, dict[str, list[str]]]
    num_rows: dict[str, dict[str, int]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    layouts: dict[str, dict[str, Any]] = field(default_factory=dict)  # config -> format, joints, units, fps

    def files(self, config: str | None = None) -> dict[str, list[str]]:
        """Absolute data files per split of ``config`` (the default = first config)."""
        config = config or next(iter(self.data_files))
        return {split: [str(self.out_dir / f) for f in files] for split, files in self.data_files[config].items()}


@dataclass(frozen=True)
class _Task:
    dataset: str
    config: str
    group: str
    index: int
    count: int
    items: tuple[Item, ...]
    out_dir: str
    info: dict[str, Any]
    on_error: str

    @property
    def relpath(self) -> str:
        return f"data/{self.config}/{self.group}-{self.index:05d}-of-{self.count:05d}.parquet"


def _write_shard(task: _Task) -> tuple[_Task, int, list[tuple[str, str]], dict[str, Any]]:
    """Read the clips of one shard and write them as one parquet file (runs in a worker process).
    Returns the task, rows written, skipped ``(id, reason)`` and the layout seen (format, fps).

    Every per-clip error is a :class:`SkeletonFileError` naming the clip's file: a reader's typed error, an
    ``OSError``, or values the features cannot store (e.g. a file name that is not UTF-8). ``on_error="raise"``
    raises it; ``"skip"`` leaves the clip out and returns it in ``skipped``."""
    import datasets

    datasets.disable_progress_bars()
    source = SOURCES[task.dataset]
    features = source.features(task.config, task.info)
    rows, skipped = [], []

    def skip(item: Item, err: BaseException) -> None:
        if not isinstance(err, HFSkeletonError):
            err = SkeletonFileError(item.path, None, "a readable clip", f"{type(err).__name__}: {err}")
        if task.on_error == "raise":
            raise err
        skipped.append((item.id, str(err)))

    for item in task.items:
        try:
            rows.append((item, source.to_example(item, task.info)))
        except (HFSkeletonError, OSError) as err:
            skip(item, err)
    try:
        table = datasets.Dataset.from_list([r for _, r in rows], features=features) if rows else None
    except (ValueError, TypeError, ArithmeticError):  # some row does not fit the features: find which
        fits = []
        for item, row in rows:
            try:
                datasets.Dataset.from_list([row], features=features)
                fits.append((item, row))
            except (ValueError, TypeError, ArithmeticError) as err:
                skip(item, SkeletonFileError(item.path, None, "values the dataset features can store",
                                             f"{type(err).__name__}: {err}"))
        rows = fits
        table = datasets.Dataset.from_list([r for _, r in rows], features=features) if rows else None
    layout = {}
    if table is not None:
        out = Path(task.out_dir) / task.relpath
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(str(out))
        spec = json.loads(rows[0][1]["format_spec"])
        layout = {"format": spec["name"], "joints": spec["joints"], "units": spec["units"],
                  "fps": sorted({round(float(r["fps"]), 4) for _, r in rows})}
    return task, len(rows), skipped, layout


def _shard_tasks(scan: Scan, dataset: str, out_dir: Path, info: dict[str, Any], num_shards: int | None,
                 max_rows_per_shard: int, on_error: str) -> list[_Task]:
    groups: dict[tuple[str, str], list[Item]] = {}
    for item in scan.items:
        groups.setdefault((item.config, item.group), []).append(item)
    tasks = []
    for (config, group), items in groups.items():
        n = min(num_shards, len(items)) if num_shards else math.ceil(len(items) / max_rows_per_shard)
        bounds = [round(k * len(items) / n) for k in range(n + 1)]
        for k in range(n):
            tasks.append(_Task(dataset, config, group, k, n, tuple(items[bounds[k]:bounds[k + 1]]), str(out_dir),
                               info, on_error))
    return tasks


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods and sys.platform == "linux" else "spawn")


def convert_dataset(raw_dir: str | Path, out_dir: str | Path, dataset: str, *, num_shards: int | None = None,
                    max_rows_per_shard: int = 1000, num_proc: int = 1, limit: int | None = None,
                    on_error: str = "raise", overwrite: bool = False, progress: bool = True,
                    source_options: dict[str, Any] | None = None) -> ConversionResult:
    """Convert ``raw_dir`` (the dataset's official layout) into parquet shards + a card in ``out_dir``.

    Args:
        dataset: one of :data:`hf_skeleton.dataset_tools.sources.SOURCES` (``nucla``, ``cmu``, ``humanml3d``,
            ``ntu``, ``pose2sim``; ``folder``: any folder listed by a labels.csv, see
            :func:`~hf_skeleton.dataset_tools.from_folder`).
        num_shards: shards per split group (at most one row per shard); default: as many as
            ``max_rows_per_shard`` requires.
        num_proc: worker processes writing shards in parallel.
        limit: convert only this many clips, spread evenly over the sorted file list (tests, previews).
        on_error: ``"raise"`` stops at the first unreadable clip (the error names the file);
            ``"skip"`` leaves every clip that cannot be read or stored out and lists it in the result and the card.
        overwrite: replace a previous conversion (its ``README.md`` and ``data/``) in ``out_dir``. Without it,
            ``out_dir`` must be empty or missing. Other files in ``out_dir`` are never touched, and a ``README.md``
            or ``data/`` this function did not write is never replaced.
        source_options: keyword options of the source's scan (``folder``: ``labels``, ``format``, ``fps``,
            ``test_size``, ``seed``); other sources take none.

    Guarantees: one conversion at a time writes to ``out_dir`` (a second one raises a ``SkeletonFileError``
    saying another conversion holds the folder); the new output is written beside the old one and swapped in
    only when complete, so an error, a ``KeyboardInterrupt`` or a killed process leaves ``out_dir`` with the
    complete previous output or the complete new one (after a killed process, the next conversion into
    ``out_dir`` first restores the previous output). The previous output stays readable until the swap.
    Not guaranteed across a power loss (nothing is fsynced).
    """
    start = time.perf_counter()
    if dataset not in SOURCES:
        raise SkeletonInputError("dataset", f"one of {sorted(SOURCES)}", dataset)
    if on_error not in ("raise", "skip"):
        raise SkeletonInputError("on_error", "'raise' or 'skip'", on_error)
    for name, value in (("num_proc", num_proc), ("max_rows_per_shard", max_rows_per_shard),
                        ("num_shards", num_shards if num_shards is not None else 1),
                        ("limit", limit if limit is not None else 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SkeletonInputError(name, "a positive integer", value)
    source = SOURCES[dataset]
    unknown = sorted(set(source_options or {}) - set(source.options))
    if unknown:
        raise SkeletonInputError("source_options", f"options among {list(source.options)} for dataset {dataset!r}",
                                 unknown)
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if out_dir.resolve() == raw_dir.resolve() or raw_dir.resolve() in out_dir.resolve().parents:
        raise SkeletonInputError("out_dir", "a folder outside the raw data folder", str(out_dir))
    with _locked(out_dir):
        _recover(out_dir)
        for leftover in out_dir.glob(_TMP + "*"):  # from a killed run
            _remove(leftover)
        _check_target(out_dir, overwrite)
        scan = source.scan(raw_dir, limit, skip_bad=on_error == "skip", **(source_options or {}))
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP}{os.getpid()}-", dir=out_dir))
        try:
            result = _convert_into(tmp, out_dir, raw_dir, source, scan, num_shards, max_rows_per_shard, num_proc,
                                   on_error, progress)
            _swap_in(tmp, out_dir)
        finally:
            _remove(tmp)
    result.seconds = time.perf_counter() - start
    return result


def _convert_into(tmp: Path, out_dir: Path, raw_dir: Path, source: Source, scan: Scan, num_shards: int | None,
                  max_rows_per_shard: int, num_proc: int, on_error: str, progress: bool) -> ConversionResult:
    """Write every shard and the card into ``tmp``; the result names ``out_dir`` (where they will be)."""
    from tqdm.auto import tqdm

    info = {**scan.features_info, "raw_dir": str(raw_dir)}
    tasks = _shard_tasks(scan, source.name, tmp, info, num_shards, max_rows_per_shard, on_error)
    written: dict[str, int] = {}
    skipped: list[tuple[str, str]] = list(scan.skipped)  # files the scan could not list
    layouts: dict[str, dict[str, Any]] = {}

    def collect(task: _Task, n: int, skip: list[tuple[str, str]], layout: dict[str, Any]) -> None:
        written[task.relpath] = n
        skipped.extend(skip)
        if layout:
            seen = layouts.setdefault(task.config, dict(layout))
            seen["fps"] = sorted(set(seen["fps"]) | set(layout["fps"]))
        bar.update(len(task.items))

    bar = tqdm(total=len(scan.items), desc=f"convert {source.name}", unit="clip", disable=not progress)
    if num_proc > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=min(num_proc, len(tasks)), mp_context=_context()) as pool:
            for out in pool.map(_write_shard, tasks):
                collect(*out)
    else:
        for task in tasks:
            collect(*_write_shard(task))
    bar.close()
    data_files: dict[str, dict[str, list[str]]] = {}
    num_rows: dict[str, dict[str, int]] = {}
    for config, splits in scan.configs.items():
        for split, groups in splits.items():
            files = [t.relpath for key in groups for t in tasks
                     if f"{t.config}/{t.group}" == key and written.get(t.relpath)]
            if files:
                data_files.setdefault(config, {})[split] = files
                num_rows.setdefault(config, {})[split] = sum(written[f] for f in files)
    if not data_files:
        raise SkeletonFileError(raw_dir, None, "at least one convertible clip", f"{len(skipped)} skipped")
    # card configs map to shard folders (item configs); record each card config's layout
    config_layouts = {}
    for config, splits in scan.configs.items():
        keys = {key.split("/", 1)[0] for groups in splits.values() for key in groups}
        found = [layouts[k] for k in sorted(keys) if k in layouts]
        if found and config in data_files:
            config_layouts[config] = {**found[0], "fps": sorted({f for lay in found for f in lay["fps"]})}
    result = ConversionResult(out_dir, source.name, data_files, num_rows, skipped, 0.0, config_layouts)
    write_card(result, source, scan, tasks, folder=tmp)
    return result


# ---------------------------------------------------------------------- output folder: lock, check, swap
@contextlib.contextmanager
def _locked(out_dir: Path):
    """Hold ``out_dir``'s conversion lock (creating the folder) for the ``with`` body, else raise a
    :class:`SkeletonFileError` naming the folder and the holder.

    The lock is ``fcntl.flock`` on ``out_dir/.hf-skeleton-convert.lock``, which records pid, host and time for
    that message. The kernel drops it when its process dies, so a lock file left by a dead process is taken
    over. Released, and the file removed, on success, error and ``KeyboardInterrupt``; a folder this call
    created is removed again if it stays empty."""
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_NAME
    fd = _acquire(path, out_dir)
    try:
        yield
    finally:
        if fcntl is None:
            os.close(fd)  # Windows removes no open file
        with contextlib.suppress(OSError):
            os.unlink(path)  # with flock: while holding it, so a writer that opened this file retries on a new one
        if fcntl is not None:
            os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only when empty


def _acquire(path: Path, out_dir: Path) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL), 0o644)
            if fcntl:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    raise
        except OSError as err:
            if not isinstance(err, (BlockingIOError, FileExistsError)):
                raise SkeletonFileError(path, None, "a writable lock file", f"{type(err).__name__}: {err}") from None
            raise SkeletonFileError(out_dir, message=f"{out_dir}: another conversion holds it ({_holder(path)}); "
                                    "wait for it to finish or choose another folder") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder released and removed the file between our open and flock: retry
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode())
    return fd


def _holder(path: Path) -> str:
    """Who holds the lock file ``path``, for the error message."""
    try:
        h = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {h['pid']} on {h['host']} since {h['since']}, lock file {path}"
    except (OSError, ValueError, TypeError, KeyError):
        return f"lock file {path}"


def _is_card(path: Path) -> bool:
    """Whether ``path`` is a dataset card written by :func:`write_card` (YAML header with ``hf_skeleton``)."""
    from huggingface_hub import metadata_load

    try:
        return path.is_file() and "hf_skeleton" in (metadata_load(path) or {})
    except Exception:  # noqa: BLE001 - an unreadable or foreign file is simply not ours
        return False


def _foreign(out_dir: Path) -> list[str]:
    """Paths under ``README.md`` and ``data/`` that a conversion did not write (those are never replaced)."""
    found = []
    card, data = out_dir / CARD_NAME, out_dir / "data"
    if os.path.lexists(card) and (card.is_symlink() or not _is_card(card)):
        found.append(CARD_NAME)
    if data.is_symlink() or (os.path.lexists(data) and not data.is_dir()):
        found.append("data")
    elif data.is_dir():
        for p in sorted(data.rglob("*")):
            rel = p.relative_to(data).as_posix()
            if p.is_symlink() or not (p.is_dir() and "/" not in rel or p.is_file() and _SHARD.fullmatch(rel)):
                found.append(f"data/{rel}")
    return found


def _check_target(out_dir: Path, overwrite: bool) -> None:
    """Refuse a non-empty ``out_dir`` without ``overwrite``, and with it a ``README.md`` / ``data/`` that is not
    a previous conversion's; this module's own hidden lock and temporary entries do not count."""
    entries = sorted(e.name for e in out_dir.iterdir() if e.name != LOCK_NAME and not e.name.startswith((_TMP, _OLD)))
    if not entries:
        return
    ours = {CARD_NAME, "data"} & set(entries)
    foreign = _foreign(out_dir)
    if not overwrite and ours and not foreign:
        raise SkeletonFileError(out_dir, None, "no previous conversion here (pass overwrite=True / --overwrite to "
                                "replace it)", "a previous conversion")
    if not overwrite:
        raise SkeletonFileError(out_dir, None, "an empty or new folder (or overwrite=True / --overwrite, which "
                                "replaces only a previous conversion's README.md and data/)", entries[:5])
    if foreign:
        raise SkeletonFileError(out_dir, None, "README.md and data/ written by a previous conversion (they are never "
                                "replaced otherwise)", foreign[:5])


def _move(src: Path, dst: Path) -> None:
    os.replace(src, dst)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Replace ``out_dir``'s ``README.md`` and ``data/`` by the complete ones in ``tmp``.

    The previous entries move into a hidden ``.hf-skeleton-old-*`` folder (first writing which ones move), the
    card first; the new ones move in, the card last: the card coming in is the commit. Until then any
    exception or interrupt puts the previous output back (:func:`_recover`); after it, the old folder is
    deleted. ``out_dir`` therefore shows either a card matching its shards, or no card."""
    old = out_dir / (_OLD + tmp.name[len(_TMP):])
    old.mkdir()
    try:
        had = [n for n in (CARD_NAME, "data") if os.path.lexists(out_dir / n)]
        (old / _MANIFEST).write_text(json.dumps(had))
        for name in had:  # card first ...
            _move(out_dir / name, old / name)
        for name in ("data", CARD_NAME):  # ... and last
            _move(tmp / name, out_dir / name)
    finally:
        _recover(out_dir)


def _recover(out_dir: Path) -> None:
    """Settle a swap that did not finish (exception, interrupt or a killed process; runs under the lock):
    unless the new card is in ``out_dir``, put back the entries the ``.hf-skeleton-old-*`` manifest lists and
    remove new ones; then delete the old folder."""
    for old in out_dir.glob(_OLD + "*"):
        try:
            had = json.loads((old / _MANIFEST).read_text())
        except (OSError, ValueError):
            had = None  # the manifest is written before anything moves: nothing moved
        card = out_dir / CARD_NAME
        committed = had is None or os.path.lexists(card) and (CARD_NAME not in had or os.path.lexists(old / CARD_NAME))
        if not committed:
            for name in ("data", CARD_NAME):
                if name not in had or os.path.lexists(old / name):  # new or moved aside: drop it, put the old back
                    _remove(out_dir / name)
                    if os.path.lexists(old / name):
                        _move(old / name, out_dir / name)
        with contextlib.suppress(FileNotFoundError):
            (old / _MANIFEST).unlink()  # settled: a partly deleted old folder must never be rolled back
        _remove(old)


def load_converted(out_dir: str | Path, config: str | None = None, split: str | None = None, *,
                   streaming: bool = False):
    """``datasets.load_dataset("parquet", data_files=...)`` on a converted folder (config default: the
    first), in memory or streaming; features (Array3D, ClassLabel) come back from the parquet metadata."""
    import datasets

    configs = read_card_configs(out_dir)
    config = config or next(iter(configs))
    if config not in configs:
        raise SkeletonInputError("config", f"one of {sorted(configs)}", config)
    files = configs[config]
    if split is not None and split not in files:
        raise SkeletonInputError("split", f"one of {sorted(files)}", split)
    missing = [f for fs in files.values() for f in fs if not Path(f).is_file()]
    if missing:
        raise SkeletonFileError(missing[0], None, f"a data file listed in {Path(out_dir) / CARD_NAME}",
                                f"no such file ({len(missing)} of the listed files missing)")
    return datasets.load_dataset("parquet", data_files=files, split=split, streaming=streaming)


def _summary(result: ConversionResult) -> str:
    return json.dumps({"out_dir": str(result.out_dir), "rows": result.num_rows, "skipped": len(result.skipped),
                       "seconds": round(result.seconds, 2)})


__all__ = ["ConversionResult", "convert_dataset", "load_converted", "read_card_configs", "write_card"]

