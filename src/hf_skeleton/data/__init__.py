"""Tables shipped with the package: action label names, open-vocabulary splits, confusable pairs.

The JSON files sit next to this module (package data); each states its sources in ``_doc``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import SkeletonInputError

_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def _table(name: str) -> dict[str, Any]:
    with open(_DIR / name, encoding="utf-8") as f:
        return json.load(f)


def _dataset(table: dict[str, Any], dataset: str, what: str) -> Any:
    keys = sorted(k for k in table if not k.startswith("_"))
    if dataset not in keys:
        raise SkeletonInputError(f"{what} dataset", f"one of {keys}", dataset)
    return table[dataset]


def action_labels(dataset: str = "nucla") -> dict[int, str]:
    """Class id (1-based) -> action name, for ``"ntu60"`` or ``"nucla"``."""
    entry = _dataset(_table("action_labels.json"), dataset, "action_labels")
    return dict(zip(entry["ids"], entry["names"]))


def list_open_vocab_splits(dataset: str = "ntu60") -> list[str]:
    return sorted(_dataset(_table("open_vocab_splits.json"), dataset, "open-vocabulary split"))


def open_vocab_split(dataset: str = "ntu60", split: str = "55/5") -> tuple[list[int], list[int]]:
    """(seen ids, unseen ids) of a shipped split (e.g. ``("ntu60", "55/5")``, ``("nucla", "8/2-seed0")``)."""
    splits = _dataset(_table("open_vocab_splits.json"), dataset, "open-vocabulary split")
    if split not in splits:
        raise SkeletonInputError(f"{dataset} split", f"one of {sorted(splits)}", split)
    unseen = list(splits[split]["unseen"])
    seen = [i for i in action_labels(dataset) if i not in unseen]
    return seen, unseen


def open_vocab_names(dataset: str, split: str) -> tuple[list[str], list[str]]:
    """(seen names, unseen names) of a shipped split, in class-id order."""
    seen, unseen = open_vocab_split(dataset, split)
    names = action_labels(dataset)
    return [names[i] for i in seen], [names[i] for i in unseen]


def confusable_pairs(dataset: str = "ntu60") -> list[tuple[int, int]]:
    """The shipped confusable class-id pairs of ``dataset`` (see ``confusable_pairs.json``)."""
    pairs = [tuple(p) for p in _dataset(_table("confusable_pairs.json"), dataset, "confusable pairs")]
    ids = action_labels(dataset)
    bad = [p for p in pairs if len(p) != 2 or p[0] == p[1] or any(i not in ids for i in p)]
    if bad:
        raise SkeletonInputError(f"confusable_pairs.json[{dataset!r}]", "pairs of two different class ids", bad)
    return pairs


__all__ = ["action_labels", "confusable_pairs", "list_open_vocab_splits", "open_vocab_split"]
