"""Helpers shared by the writers: one person's joints with gaps filled."""

from __future__ import annotations

import numpy as np

from ...errors import SkeletonInputError
from ..sequence import SkeletonSequence


def one_person(seq: SkeletonSequence, person: int | None, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions float64 (T, J, 3) and mask (T, J) of the person ``person`` (``None``: the only one)."""
    P = seq.num_persons
    if person is None:
        if P != 1:
            raise SkeletonInputError("person", f"person= choosing one of the {P} persons (a {what} holds one)", None)
        person = 0
    if isinstance(person, bool) or not isinstance(person, (int, np.integer)) or not 0 <= person < P:
        raise SkeletonInputError("person", f"a person index in 0..{P - 1}", person)
    return seq.positions[:, person].astype(np.float64), seq.mask[:, person].copy()


def fill_missing(positions: np.ndarray, mask: np.ndarray, parents: tuple[int, ...] | list[int]) -> np.ndarray:
    """Unobserved joints filled in: linearly between the joint's observed frames (held constant beyond
    the first and last); a joint never observed sits on its parent (a zero-length bone).

    Args:
        positions: (T, J, 3); mask: (T, J) True where observed; parents: one per joint, -1 for the root.
    """
    pos = np.array(positions, dtype=np.float64)
    T, J = mask.shape
    if not mask.any():
        raise SkeletonInputError("seq.mask", "at least one observed joint to write", "nothing observed")
    frames = np.arange(T)
    never = []
    for j in range(J):
        seen = np.flatnonzero(mask[:, j])
        if len(seen) == 0:
            never.append(j)
        elif len(seen) < T:
            for k in range(3):
                pos[:, j, k] = np.interp(frames, seen, pos[seen, j, k])
    placed = set(range(J)) - set(never)
    while never:  # parents first; the root is placed from any observed joint's mean
        progress = False
        for j in list(never):
            p = parents[j]
            if p == -1:
                pos[:, j] = pos[:, sorted(placed)].mean(axis=1)
            elif p in placed:
                pos[:, j] = pos[:, p]
            else:
                continue
            placed.add(j)
            never.remove(j)
            progress = True
        if not progress:  # pragma: no cover - a valid format's tree always reaches the root
            raise SkeletonInputError("format.parents", "a tree reaching the root", parents)
    return pos
