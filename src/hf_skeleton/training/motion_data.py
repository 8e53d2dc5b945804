"""What the motion recipes (VGMT, Superman) learn from and are scored on when given ``--dataset`` (#15).

:func:`load_motion_dataset` reads a converted dataset (a folder written by ``hf-skeleton convert`` or a Hub
dataset id) the way :func:`~hf_skeleton.training.recipe_data.dataset_recipe_data` reads it for the language
recipes (the same :func:`~hf_skeleton.evaluation.dataset_eval.load_split`, the rows' ``format_spec``, the most
common format among the training rows, other rows converted to it by joint name), but needs no label column:
a tokenizer or a motion generator learns from the motion alone, so unlabelled datasets train too.

The recipes cut their own windows (:func:`person_tracks`, :func:`observed_runs`): each person of a clip is
one track, and only fully observed frames enter a window (a joint the format declares but the data never
observed would otherwise be scored as a zero).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SkeletonFileError, SkeletonInputError
from ..skeletons.formats import SkeletonFormat
from ..skeletons.sequence import SkeletonSequence
from .recipe_data import NO_SPLIT, in_one_format


@dataclass
class MotionData:
    """The clips of a motion recipe's run.

    Attributes:
        train: the ``train_split`` clips, all in ``format``.
        test: the ``eval_split`` clips in ``format`` (``[]`` when ``eval_split`` is None).
        format: the most common format among the training clips (the model's format).
        source: the dataset folder or Hub id.
        train_split, eval_split: the split names (``eval_split`` None: no evaluation).
        config: the dataset configuration read (None: the first one).
    """

    train: list[SkeletonSequence]
    test: list[SkeletonSequence]
    format: SkeletonFormat
    source: str
    train_split: str = "train"
    eval_split: str | None = "test"
    config: str | None = None

    @property
    def units(self) -> str:
        return self.format.units

    @property
    def name(self) -> str:
        """How results name the dataset: a local folder's name, else the Hub id."""
        from ..evaluation.dataset_eval import dataset_name

        return dataset_name(self.source)

    def index(self) -> dict[str, str]:
        """The model-index entry (``_index`` of a stored result) of a score on ``eval_split``, as
        :func:`~hf_skeleton.evaluation.dataset_eval.stored_result` writes it for the recognition recipes."""
        from ..cards import is_hub_id
        from ..evaluation.dataset_eval import slug

        local = Path(self.source).is_dir()
        return {"dataset_type": self.source if is_hub_id(self.source) and not local else slug(self.name).lower(),
                "dataset_name": self.name, "dataset_split": str(self.eval_split),
                **({"dataset_config": self.config} if self.config else {})}


def reject_with_dataset(args: Any, **options: str) -> None:
    """``--dataset`` replaces a recipe's own data options: each of ``options`` (field -> what it means)
    that is set is a :class:`SkeletonInputError`."""
    if not getattr(args, "dataset", None):
        return
    for name, meaning in options.items():
        value = getattr(args, name, None)
        if value:
            raise SkeletonInputError(name, f"no --{name.replace('_', '-')} with --dataset ({meaning})", value)


def _sequences(rows: Any) -> list[SkeletonSequence]:
    from ..dataset_tools.features import example_to_sequence

    return [example_to_sequence(row) for row in rows.with_format("numpy")]


def load_motion_dataset(source: str | Path, *, train_split: str = "train", eval_split: str | None = "test",
                        config: str | None = None, log: Callable[[str], Any] = print) -> MotionData:
    """Read ``train_split`` (and ``eval_split``; None or ``"none"``: no evaluation) of a converted dataset.

    Raises:
        SkeletonFileError: a missing split or an empty training split (naming the dataset).
    """
    from ..evaluation.dataset_eval import load_split

    source = str(source)
    rows = load_split(source, train_split, config)
    if len(rows) == 0:
        raise SkeletonFileError(source, f"split {train_split}", "a split with at least one clip", "0 rows")
    train, fmt = in_one_format(_sequences(rows), source, log)
    test: list[SkeletonSequence] = []
    if eval_split and str(eval_split).lower() not in NO_SPLIT:
        test = [c if c.format == fmt else c.to_format(fmt) for c in _sequences(load_split(source, eval_split, config))]
    else:
        eval_split = None
    log(f"{source}: {len(train)} {train_split} clips in format {fmt.name!r} ({fmt.num_joints} joints"
        + ("" if fmt.is_tree else f", {len(fmt.roots)} parts") + f", {fmt.units})"
        + (f"; evaluation on {eval_split} ({len(test)} clips)" if eval_split else "; no evaluation split"))
    return MotionData(train=train, test=test, format=fmt, source=source, train_split=train_split,
                      eval_split=eval_split, config=config)


def person_tracks(seq: SkeletonSequence) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each person of ``seq`` observed at least once: ``(positions (T, J, 3), mask (T, J))``."""
    for p in range(seq.num_persons):
        if seq.mask[:, p].any():
            yield seq.positions[:, p], seq.mask[:, p]


def observed_runs(positions: np.ndarray, mask: np.ndarray, min_frames: int = 1) -> list[np.ndarray]:
    """The maximal runs of consecutive frames in which every joint is observed, each ``(T_run, J, 3)``;
    runs shorter than ``min_frames`` are left out. positions (T, J, 3), mask (T, J)."""
    full = np.asarray(mask, bool).all(-1)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], full.astype(np.int8), [0]])))
    return [positions[a:b] for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_frames]


__all__ = ["MotionData", "load_motion_dataset", "observed_runs", "person_tracks", "reject_with_dataset"]
