"""SkeletonSequence: the one in-memory representation every reader returns and every processor reads."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import SkeletonInputError
from .formats import SkeletonFormat, get_format


@dataclass
class SkeletonSequence:
    """A clip of one or more persons.

    Attributes:
        positions: float32 (T, P, J, 3) frames, persons, joints, xyz. 2D data has z = 0
            (``format.dims == 2`` and ``meta["is_2d"] = True``). Unobserved joints hold 0.
        mask: bool (T, P, J), True where the joint was observed. Non-finite input coordinates
            are masked on construction, never propagated.
        fps: frames per second (> 0).
        format: the :class:`SkeletonFormat` of the joints.
        meta: free-form metadata: ``label``, ``label_name``, ``text``, ``subject``, ``view``,
            ``source`` (file path), ...
        orientations: optional float32 (T, P, J, 3, 3) global joint rotations (BVH, Kinect
            orientations); DrAction skins with them when present.
    """

    positions: np.ndarray
    mask: np.ndarray | None = None
    fps: float = 30.0
    format: SkeletonFormat | str = "kinect_v2"
    meta: dict[str, Any] = field(default_factory=dict)
    orientations: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.format = get_format(self.format)
        src = self.meta.get("source", "SkeletonSequence")
        pos = np.asarray(self.positions)
        if pos.ndim == 3:  # (T, J, C): one person
            pos = pos[:, None]
        if pos.ndim != 4 or pos.shape[-1] not in (2, 3):
            raise SkeletonInputError(f"{src}: positions", "an array of shape (T, P, J, 3) or (T, J, 3)",
                                     tuple(pos.shape))
        if not np.issubdtype(pos.dtype, np.number):
            raise SkeletonInputError(f"{src}: positions", "a numeric array", str(pos.dtype))
        if pos.shape[-1] == 2:
            pos = np.concatenate([pos, np.zeros(pos.shape[:-1] + (1,), pos.dtype)], axis=-1)
        T, P, J, _ = pos.shape
        if T < 1 or P < 1:
            raise SkeletonInputError(f"{src}: positions", "at least one frame and one person", tuple(pos.shape))
        if J != self.format.num_joints:
            raise SkeletonInputError(f"{src}: positions",
                                     f"{self.format.num_joints} joints for format {self.format.name!r}", J)
        pos = pos.astype(np.float32, copy=True)
        finite = np.isfinite(pos).all(-1)
        if self.mask is None:
            mask = finite
        else:
            mask = np.asarray(self.mask)
            if mask.shape != (T, P, J):
                raise SkeletonInputError(f"{src}: mask", f"shape {(T, P, J)}", tuple(mask.shape))
            mask = mask.astype(bool) & finite
        pos[~mask] = 0.0
        self.positions = pos
        self.mask = mask
        try:
            fps = float(self.fps)
        except (TypeError, ValueError):
            raise SkeletonInputError(f"{src}: fps", "a positive number", self.fps) from None
        if not np.isfinite(fps) or fps <= 0:
            raise SkeletonInputError(f"{src}: fps", "a positive number", self.fps)
        self.fps = fps
        if self.orientations is not None:
            ori = np.asarray(self.orientations, dtype=np.float32)
            if ori.shape != (T, P, J, 3, 3):
                raise SkeletonInputError(f"{src}: orientations", f"shape {(T, P, J, 3, 3)}", tuple(ori.shape))
            self.orientations = ori
        if self.format.dims == 2:
            self.meta.setdefault("is_2d", True)

    # ------------------------------------------------------------------ shape helpers
    @property
    def num_frames(self) -> int:
        return self.positions.shape[0]

    @property
    def num_persons(self) -> int:
        return self.positions.shape[1]

    @property
    def num_joints(self) -> int:
        return self.positions.shape[2]

    @property
    def duration(self) -> float:
        """Seconds covered by the clip."""
        return self.num_frames / self.fps

    def __len__(self) -> int:
        return self.num_frames

    def copy(self, **changes: Any) -> "SkeletonSequence":
        """A deep copy with some fields replaced."""
        base = dict(positions=self.positions.copy(), mask=self.mask.copy(), fps=self.fps,
                    format=self.format, meta=dict(self.meta),
                    orientations=None if self.orientations is None else self.orientations.copy())
        base.update(changes)
        return replace(self, **base)

    def frame_range(self, start: int, stop: int | None = None) -> "SkeletonSequence":
        """Frames ``start:stop`` as a new sequence; every per-frame array (positions, mask,
        orientations) is cut the same way."""
        cut = slice(start, stop)
        if not len(range(self.num_frames)[cut]):
            raise SkeletonInputError("frame_range", f"a non-empty range of the {self.num_frames} frames",
                                     f"{start}:{stop}")
        return self.copy(positions=self.positions[cut].copy(), mask=self.mask[cut].copy(),
                         orientations=None if self.orientations is None else self.orientations[cut].copy())

    def __repr__(self) -> str:
        label = self.meta.get("label_name", self.meta.get("label"))
        extra = f", label={label!r}" if label is not None else ""
        return (f"SkeletonSequence(format={self.format.name!r}, frames={self.num_frames}, "
                f"persons={self.num_persons}, joints={self.num_joints}, fps={self.fps:g}{extra})")

    # ------------------------------------------------------------------ transforms (see transforms.py)
    def resample(self, num_frames: int, *, mode: str = "uniform", seed: int | None = None) -> "SkeletonSequence":
        """Resample to ``num_frames`` frames (see :func:`hf_skeleton.skeletons.transforms.resample`)."""
        from .transforms import resample

        return resample(self, num_frames, mode=mode, seed=seed)

    def normalized(self, **kwargs: Any) -> "SkeletonSequence":
        """Root-centred, scale-normalised copy (see :func:`hf_skeleton.skeletons.transforms.normalize`)."""
        from .transforms import normalize

        return normalize(self, **kwargs)

    def mirrored(self) -> "SkeletonSequence":
        from .transforms import mirror

        return mirror(self)

    def to_format(self, target: str | SkeletonFormat) -> "SkeletonSequence":
        """Convert by joint-name correspondence; joints with no source are masked, not invented."""
        from .convert import convert

        return convert(self, target)
