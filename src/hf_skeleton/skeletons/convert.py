"""Conversion between formats by joint-name correspondence.

Lossy by design and reported: a target joint whose name the source lacks (COCO has no pelvis or
spine; Kinect has no eyes) is masked with position 0, never invented. ``meta["conversion"]``
records the source format, the joints copied and the joints missing. Joints sharing a name are
assumed to mark the same anatomical point; where datasets place them differently (SMPL's hip
joints sit inside the pelvis, Kinect's on its surface) the difference stays in the data.
"""

from __future__ import annotations

import numpy as np

from .formats import SkeletonFormat, get_format
from .sequence import SkeletonSequence


def joint_correspondence(source: SkeletonFormat, target: SkeletonFormat) -> list[int]:
    """For each target joint, the source joint id with the same name, or -1."""
    index = {name: i for i, name in enumerate(source.joints)}
    return [index.get(name, -1) for name in target.joints]


def convert(seq: SkeletonSequence, target: str | SkeletonFormat) -> SkeletonSequence:
    tgt = get_format(target)
    src = seq.format
    if tgt == src:
        return seq.copy()
    corr = np.asarray(joint_correspondence(src, tgt))
    have = corr >= 0
    T, P = seq.num_frames, seq.num_persons
    positions = np.zeros((T, P, tgt.num_joints, 3), np.float32)
    mask = np.zeros((T, P, tgt.num_joints), bool)
    positions[:, :, have] = seq.positions[:, :, corr[have]]
    mask[:, :, have] = seq.mask[:, :, corr[have]]
    orientations = None
    if seq.orientations is not None:
        orientations = np.broadcast_to(np.eye(3, dtype=np.float32), (T, P, tgt.num_joints, 3, 3)).copy()
        orientations[:, :, have] = seq.orientations[:, :, corr[have]]
    meta = dict(seq.meta)
    meta["conversion"] = {
        "from": src.name,
        "copied": [tgt.joints[i] for i in np.flatnonzero(have)],
        "missing": [tgt.joints[i] for i in np.flatnonzero(~have)],
        "dropped": [n for n in src.joints if n not in set(tgt.joints)],
    }
    return SkeletonSequence(positions=positions, mask=mask, fps=seq.fps, format=tgt, meta=meta,
                            orientations=orientations)
