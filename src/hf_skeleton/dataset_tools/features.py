"""`datasets` features for skeleton clips, and the conversions example <-> :class:`SkeletonSequence`.

One row = one clip. Motion is stored as ``Array3D(shape=(None, J, 3), dtype="float32")`` (frames
vary per row; hundreds of times faster to read than nested lists), the mask as
``Array2D(shape=(None, J), dtype="bool")``. Multi-person datasets (NTU) add ``positions_2`` /
``mask_2`` for the second body. Every row names its skeleton layout (``format``) and carries the
layout itself as JSON (``format_spec``; parquet dictionary-encodes the repeated string), so a row
turns back into a sequence without any side file, even for per-file BVH layouts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import HFSkeletonError, SkeletonInputError
from ..skeletons.formats import SkeletonFormat, get_format
from ..skeletons.sequence import SkeletonSequence

# column name -> datasets Value dtype, for per-clip metadata copied to/from seq.meta
META_COLUMNS: dict[str, str] = {
    "label_name": "string", "text": "string", "subject": "int32", "view": "int32", "episode": "int32",
    "setup": "int32", "camera": "int32", "performer": "int32", "replication": "int32", "trial": "int32",
}


def skeleton_features(num_joints: int, *, label_names: Sequence[str] | None = None, second_person: bool = False,
                      meta_columns: Iterable[str] = ("label_name", "text"), extra: Mapping[str, Any] | None = None):
    """Explicit :class:`datasets.Features` of a converted skeleton dataset.

    Columns: ``id``, ``positions`` (T, J, 3) float32, ``mask`` (T, J) bool, ``num_frames``, ``fps``,
    ``format``, ``format_spec``, ``label`` (a ``ClassLabel`` when ``label_names`` is given), the
    requested ``meta_columns`` (see :data:`META_COLUMNS`), ``positions_2``/``mask_2`` when
    ``second_person``, and ``extra`` features as given.
    """
    import datasets

    feats: dict[str, Any] = {
        "id": datasets.Value("string"),
        "positions": datasets.Array3D(shape=(None, int(num_joints), 3), dtype="float32"),
        "mask": datasets.Array2D(shape=(None, int(num_joints)), dtype="bool"),
    }
    if second_person:
        feats["positions_2"] = datasets.Array3D(shape=(None, int(num_joints), 3), dtype="float32")
        feats["mask_2"] = datasets.Array2D(shape=(None, int(num_joints)), dtype="bool")
    feats.update({"num_frames": datasets.Value("int32"), "fps": datasets.Value("float32"),
                  "format": datasets.Value("string"), "format_spec": datasets.Value("string")})
    if label_names is not None:
        feats["label"] = datasets.ClassLabel(names=list(label_names))
    for col in meta_columns:
        if col not in META_COLUMNS:
            raise SkeletonInputError("meta_columns", f"names from {sorted(META_COLUMNS)}", col)
        feats[col] = datasets.Value(META_COLUMNS[col])
    feats.update(extra or {})
    return datasets.Features(feats)


def sequence_to_example(seq: SkeletonSequence, *, id: str, label: int | None = None,
                        meta_columns: Iterable[str] = ("label_name", "text"), second_person: bool = False,
                        **extra: Any) -> dict[str, Any]:
    """A row for :func:`skeleton_features`: the first person's positions/mask (and the second's when
    ``second_person``; zeros and False when the clip has one), metadata from ``seq.meta``."""
    row: dict[str, Any] = {"id": str(id), "positions": seq.positions[:, 0], "mask": seq.mask[:, 0]}
    if second_person:
        if seq.num_persons > 1:
            row["positions_2"], row["mask_2"] = seq.positions[:, 1], seq.mask[:, 1]
        else:
            row["positions_2"] = np.zeros_like(seq.positions[:, 0])
            row["mask_2"] = np.zeros_like(seq.mask[:, 0])
    row.update(num_frames=seq.num_frames, fps=float(seq.fps), format=seq.format.name,
               format_spec=json.dumps(seq.format.to_dict(), sort_keys=True))
    if label is not None:
        row["label"] = int(label)
    for col in meta_columns:
        value = seq.meta.get(col)
        if col == "text" and isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None and META_COLUMNS[col] == "int32":
            value = int(value)
        row[col] = "" if value is None and META_COLUMNS[col] == "string" else value
    row.update(extra)
    return row


def _format_of(example: Mapping[str, Any], override: Any) -> SkeletonFormat:
    if override is not None:
        return get_format(override)
    spec = example.get("format_spec")
    if spec:
        fmt = SkeletonFormat.from_dict(json.loads(spec))
        try:  # a registered format of the same name and layout keeps its identity
            registered = get_format(fmt.name)
            return registered if registered == fmt else fmt
        except HFSkeletonError:
            return fmt
    if example.get("format"):
        return get_format(example["format"])
    raise SkeletonInputError("example", "a 'format' or 'format_spec' column (or pass format=)", sorted(example))


def example_to_sequence(example: Mapping[str, Any], *, format: Any = None,
                        label_names: Sequence[str] | None = None) -> SkeletonSequence:
    """Turn one dataset row (python lists or numpy arrays, e.g. ``ds.with_format("numpy")``) back into
    a :class:`SkeletonSequence` (T, P, J, 3); P = 2 when the row has an observed ``positions_2``.

    ``label_names`` (e.g. ``ds.features["label"].names``) fills ``meta["label_name"]`` when the row
    has no ``label_name`` column. Every scalar column lands in ``meta``.
    """
    if not isinstance(example, Mapping) or "positions" not in example:
        raise SkeletonInputError("example", "a mapping with a 'positions' column",
                                 type(example).__name__ if not isinstance(example, Mapping) else sorted(example))
    fmt = _format_of(example, format)
    pos = np.asarray(example["positions"], dtype=np.float32)
    if pos.ndim != 3 or pos.shape[1:] != (fmt.num_joints, 3):
        raise SkeletonInputError("example['positions']", f"shape (T, {fmt.num_joints}, 3)", pos.shape)
    mask = np.asarray(example["mask"], dtype=bool) if example.get("mask") is not None else None
    pos, mask = pos[:, None], None if mask is None else mask[:, None]
    if example.get("positions_2") is not None and example.get("mask_2") is not None:
        mask2 = np.asarray(example["mask_2"], dtype=bool)
        if mask2.any():
            pos = np.concatenate([pos, np.asarray(example["positions_2"], np.float32)[:, None]], axis=1)
            mask = np.concatenate([mask if mask is not None else np.ones(pos.shape[:1] + (1, fmt.num_joints), bool),
                                   mask2[:, None]], axis=1)
    skip = {"positions", "mask", "positions_2", "mask_2", "format_spec", "format", "fps"}
    meta: dict[str, Any] = {}
    for key, value in example.items():
        if key in skip:
            continue
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        meta[key] = value
    if "label" in meta and label_names is not None and not meta.get("label_name"):
        meta["label_name"] = label_names[int(meta["label"])]
    fps = float(np.asarray(example.get("fps", 30.0)))
    return SkeletonSequence(positions=pos, mask=mask, fps=fps, format=fmt, meta=meta)


def collate_skeletons(examples: Sequence[Mapping[str, Any]], *, max_frames: int | None = None) -> dict[str, np.ndarray]:
    """Pad a list of rows to one batch: ``positions`` (B, T_max, J, 3) float32, ``mask`` (B, T_max, J)
    bool (False on padding), ``lengths`` (B,) int64, and ``label`` (B,) when every row has one.
    ``max_frames`` crops longer clips (from the start)."""
    if not examples:
        raise SkeletonInputError("examples", "a non-empty list of dataset rows", 0)
    arrays = [np.asarray(e["positions"], np.float32) for e in examples]
    masks = [np.asarray(e["mask"], bool) for e in examples]
    J = arrays[0].shape[1]
    if any(a.ndim != 3 or a.shape[1:] != (J, 3) for a in arrays):
        raise SkeletonInputError("examples[*]['positions']", f"shapes (T, {J}, 3)", [a.shape for a in arrays])
    if max_frames is not None:
        arrays, masks = [a[:max_frames] for a in arrays], [m[:max_frames] for m in masks]
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    T = int(lengths.max())
    pos = np.zeros((len(arrays), T, J, 3), np.float32)
    msk = np.zeros((len(arrays), T, J), bool)
    for i, (a, m) in enumerate(zip(arrays, masks)):
        pos[i, : len(a)] = a
        msk[i, : len(m)] = m
    batch = {"positions": pos, "mask": msk, "lengths": lengths}
    if all("label" in e and e["label"] is not None for e in examples):
        batch["label"] = np.array([int(np.asarray(e["label"])) for e in examples], dtype=np.int64)
    return batch


__all__ = ["META_COLUMNS", "collate_skeletons", "example_to_sequence", "sequence_to_example", "skeleton_features"]
