"""A sequence as one ``.npz`` of plain arrays (no pickles), read back by the array reader without ``format=``.

Members: ``positions`` float32 (T, P, J, 3), ``mask`` bool (T, P, J), ``fps`` float64 (), ``format`` a
JSON string (``SkeletonFormat.to_dict()``), ``orientations`` float32 (T, P, J, 3, 3) when the clip has
them, and ``meta`` a JSON string of the metadata entries JSON can hold (label, text, ...; arrays,
other objects, ``source`` and ``reader`` are left out).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import SkeletonInputError
from ..sequence import SkeletonSequence

_READ_KEYS = ("source", "reader")  # set by load_skeleton for the file being read


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is JSON made of str/int/float/bool/None, lists and str-keyed dicts."""
    if depth > 20:
        return False
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


def write_npz(seq: SkeletonSequence, path: str | Path, *, compress: bool = True) -> Path:
    """Write ``seq`` as an ``.npz`` (see the module docstring); ``compress`` uses ``np.savez_compressed``."""
    if not isinstance(seq, SkeletonSequence):
        raise SkeletonInputError("seq", "a SkeletonSequence", type(seq).__name__)
    arrays: dict[str, np.ndarray] = {
        "positions": seq.positions.astype(np.float32), "mask": seq.mask.astype(bool),
        "fps": np.array(float(seq.fps)), "format": np.array(json.dumps(seq.format.to_dict())),
        "meta": np.array(json.dumps({k: v for k, v in seq.meta.items()
                                        if isinstance(k, str) and k not in _READ_KEYS and _plain(v)})),
    }
    if seq.orientations is not None:
        arrays["orientations"] = seq.orientations.astype(np.float32)
    path = Path(path)
    with open(path, "wb") as f:  # a file object: numpy would append ".npz" to a name without it
        (np.savez_compressed if compress else np.savez)(f, **arrays)
    return path
