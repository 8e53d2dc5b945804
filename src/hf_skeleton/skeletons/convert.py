"""Conversion between formats by joint-name correspondence.

Lossy by design and reported: a target joint whose name the source lacks (COCO has no pelvis or
spine; Kinect has no eyes) is masked with position 0, never invented. ``meta["conversion"]``
records the source format, the joints copied and the joints missing. Joints sharing a name are
assumed to mark the same anatomical point; where datasets place them differently (SMPL's hip
joints sit inside the pelvis, Kinect's on its surface) the difference stays in the data.

Formats that keep their own joint names (a BVH file's ``hip``/``lShldr``, a Mixamo rig's
``LeftUpLeg``) are matched through :data:`JOINT_NAME_CONVENTIONS`: per naming convention, the
shared-vocabulary name of each joint whose *head* marks that point (a BVH thigh starts at the hip,
a forearm at the elbow). The format itself keeps its names, so a BVH round trip is unchanged.
Positions are rescaled when both formats name a length unit (``"cm"`` -> ``"m"``: x 0.01).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..errors import SkeletonInputError
from .formats import (
    BLAZEPOSE33,
    COCO17,
    H36M17,
    KINECT_V1,
    KINECT_V2,
    OPENPOSE25,
    SMPL22,
    SkeletonFormat,
    get_format,
)
from .sequence import SkeletonSequence

# The shared vocabulary: names of the built-in formats. A joint already spelled this way is never aliased.
VOCABULARY = frozenset(j for f in (KINECT_V2, KINECT_V1, SMPL22, H36M17, COCO17, OPENPOSE25, BLAZEPOSE33)
                       for j in f.joints)

# convention -> (left/right prefixes, unsided names, sided stems). Names are compared by _key (lower
# case, letters and digits only, any "namespace:" dropped), so "rForeArm" is "r" + "forearm". Joints
# without an entry (fingers, CMU's lhipjoint/lowerback/lowerneck, Poser's buttocks) have no counterpart.
JOINT_NAME_CONVENTIONS: dict[str, tuple[tuple[str, str], dict[str, str], dict[str, str]]] = {
    # CMU MoCap as converted for Poser/DAZ (43 joints: hip, abdomen, chest, lCollar, lShldr, lThigh, ...)
    "cmu_poser": (("l", "r"),
                  {"hip": "pelvis", "abdomen": "spine", "chest": "thorax", "neck": "neck", "head": "head",
                   "lefteye": "left_eye", "righteye": "right_eye"},
                  {"collar": "collar", "shldr": "shoulder", "forearm": "elbow", "hand": "wrist", "thigh": "hip",
                   "shin": "knee", "foot": "ankle"}),
    # CMU MoCap with its ASF/AMC bone names (31 joints: hip, lfemur, ltibia, lhumerus, lradius, ...)
    "cmu_asf": (("l", "r"),
                {"hip": "pelvis", "root": "pelvis", "upperback": "spine", "thorax": "thorax", "upperneck": "neck",
                 "head": "head"},
                {"clavicle": "collar", "humerus": "shoulder", "radius": "elbow", "wrist": "wrist", "hand": "hand",
                 "femur": "hip", "tibia": "knee", "foot": "ankle", "toes": "foot"}),
    # CMU MoCap as converted for MotionBuilder (31 joints: Hips, LHipJoint, LeftUpLeg, Spine1, Neck1, ...),
    # a renaming of the ASF bones (upperback = Spine, thorax = Spine1, upperneck = Neck1, lhand = LeftFingerBase)
    "cmu_motionbuilder": (("left", "right"),
                          {"hips": "pelvis", "spine": "spine", "spine1": "thorax", "neck1": "neck", "head": "head"},
                          {"shoulder": "collar", "arm": "shoulder", "forearm": "elbow", "hand": "wrist",
                           "fingerbase": "hand", "upleg": "hip", "leg": "knee", "foot": "ankle", "toebase": "foot"}),
    # Mixamo / HumanIK rigs (Hips, Spine, Spine1, Spine2, Neck, LeftUpLeg, ...; "mixamorig:" prefixes dropped),
    # whose three spine joints are SMPL's
    "mixamo": (("left", "right"),
               {"hips": "pelvis", "spine": "spine1", "spine1": "spine2", "spine2": "spine3", "neck": "neck",
                "head": "head"},
               {"eye": "eye", "shoulder": "collar", "arm": "shoulder", "forearm": "elbow", "hand": "wrist",
                "upleg": "hip", "leg": "knee", "foot": "ankle", "toebase": "foot"}),
}


def _key(name: str) -> str:
    return "".join(c for c in name.rsplit(":", 1)[-1].lower() if c.isalnum())


def _aliases(convention: str) -> dict[str, str]:
    (left, right), center, sided = JOINT_NAME_CONVENTIONS[convention]
    out = dict(center)
    for stem, target in sided.items():
        out[left + stem] = f"left_{target}"
        out[right + stem] = f"right_{target}"
    return out


_ALIASES = {name: _aliases(name) for name in JOINT_NAME_CONVENTIONS}


def joint_name_convention(fmt: str | SkeletonFormat) -> str | None:
    """The convention of :data:`JOINT_NAME_CONVENTIONS` naming most of ``fmt``'s joints outside the
    shared vocabulary (first listed on a tie), or None when none names any."""
    keys = [_key(j) for j in get_format(fmt).joints if j not in VOCABULARY]
    counts = {name: sum(k in table for k in keys) for name, table in _ALIASES.items()}
    best = max(counts, key=lambda name: counts[name])  # dicts keep order: the first wins a tie
    return best if counts[best] else None


def canonical_joint_names(fmt: str | SkeletonFormat) -> tuple[str, ...]:
    """Each joint's shared-vocabulary name: its own when it has one or no alias, else its alias under
    :func:`joint_name_convention`. An alias onto a name the format already uses is not applied."""
    fmt = get_format(fmt)
    convention = joint_name_convention(fmt)
    table = _ALIASES[convention] if convention else {}
    names = [j if j in VOCABULARY else table.get(_key(j), j) for j in fmt.joints]
    taken = Counter(names)
    return tuple(n if taken[n] == 1 else j for n, j in zip(names, fmt.joints))


def joint_correspondence(source: SkeletonFormat, target: SkeletonFormat) -> list[int]:
    """For each target joint, the source joint with the same (canonical) name, or -1."""
    index = {name: i for i, name in enumerate(canonical_joint_names(source))}
    return [index.get(name, -1) for name in canonical_joint_names(target)]


_LENGTH_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}


def unit_scale(source: SkeletonFormat, target: SkeletonFormat) -> float:
    """Factor taking ``source`` positions into ``target`` units (1 unless both are lengths)."""
    if source.units in _LENGTH_UNITS and target.units in _LENGTH_UNITS:
        return _LENGTH_UNITS[source.units] / _LENGTH_UNITS[target.units]
    return 1.0


def convert(seq: SkeletonSequence, target: str | SkeletonFormat) -> SkeletonSequence:
    """``seq`` in the ``target`` format: joints matched by (canonical) name, the rest masked, positions
    rescaled between length units; ``meta["conversion"]`` says what was copied, missing and dropped."""
    tgt = get_format(target)
    src = seq.format
    if tgt == src:
        return seq.copy()
    corr = np.asarray(joint_correspondence(src, tgt))
    have = corr >= 0
    T, P = seq.num_frames, seq.num_persons
    scale = unit_scale(src, tgt)
    positions = np.zeros((T, P, tgt.num_joints, 3), np.float32)
    mask = np.zeros((T, P, tgt.num_joints), bool)
    positions[:, :, have] = seq.positions[:, :, corr[have]] * np.float32(scale)
    mask[:, :, have] = seq.mask[:, :, corr[have]]
    orientations = None
    if seq.orientations is not None:
        orientations = np.broadcast_to(np.eye(3, dtype=np.float32), (T, P, tgt.num_joints, 3, 3)).copy()
        orientations[:, :, have] = seq.orientations[:, :, corr[have]]
    meta = dict(seq.meta)
    if scale != 1.0:
        meta["units"] = tgt.units
    used = set(corr[have].tolist())
    meta["conversion"] = {
        "from": src.name,
        "copied": [tgt.joints[i] for i in np.flatnonzero(have)],
        "missing": [tgt.joints[i] for i in np.flatnonzero(~have)],
        "dropped": [n for i, n in enumerate(src.joints) if i not in used],
    }
    if scale != 1.0:
        meta["conversion"]["scale"] = scale
    return SkeletonSequence(positions=positions, mask=mask, fps=seq.fps, format=tgt, meta=meta,
                            orientations=orientations)


CMU_CONVENTIONS = ("cmu_poser", "cmu_asf", "cmu_motionbuilder")


def cmu_to_h36m(seq):
    """A CMU BVH clip as H36M-17 joints in metres (the layout Superman's recipe trains on).

    The joints come from the generic name-based conversion (``seq.to_format("h36m17")``, which maps
    every CMU naming of :data:`~hf_skeleton.skeletons.convert.JOINT_NAME_CONVENTIONS`); this adds
    the check that all 17 joints were found and the metre scale of ASF-named files, whose units are
    CMU's "length 0.45" (1 unit = 1/0.45 inch) rather than a length the file could declare.
    """
    convention = joint_name_convention(seq.format)
    if convention not in CMU_CONVENTIONS:
        raise SkeletonInputError("seq.format", "a CMU BVH skeleton (43 or 31 joints)", seq.format.name)
    out = seq.to_format("h36m17")
    missing = out.meta["conversion"]["missing"]
    if missing:
        raise SkeletonInputError("seq.format", "a CMU BVH skeleton with every H36M-17 joint",
                                 f"{seq.format.name} without {missing}")
    if seq.format.units not in ("m", "cm", "mm"):  # to_format scaled the others into metres
        if convention != "cmu_asf":
            raise SkeletonInputError("seq units", "cm, m or mm", seq.format.units)
        out.positions *= np.float32(0.0254 / 0.45)
    out.meta["units"] = "m"
    return out
