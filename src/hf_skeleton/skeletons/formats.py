"""Skeleton formats as data: joints, parents (hence bones), body parts, mirror pairs.

A model never hard-codes a joint count: it reads J, the bones and the parts from a
:class:`SkeletonFormat`, usually through its config (``format=...`` as a registered name,
or the format's ``to_dict()`` for a user-defined one).

Joint names follow one shared vocabulary across formats (``pelvis``, ``left_knee``, ...) so that
conversion between formats is a name match (see :mod:`hf_skeleton.skeletons.convert`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..errors import SkeletonFormatError

BODY_PARTS = ("torso", "left_arm", "right_arm", "left_leg", "right_leg")
UP_AXES = ("x", "y", "z", "-x", "-y", "-z")


@dataclass(frozen=True)
class SkeletonFormat:
    """A skeleton layout.

    Args:
        name: registry name, e.g. ``"kinect_v2"``.
        joints: joint names, index = joint id.
        parents: parent joint id of each joint, ``-1`` for a root. Usually one root (a tree); several
            roots make a forest of disconnected parts (two hands only; the arms and hands without a
            torso), each part a tree hanging from its own root.
        parts: body part -> joint ids. Every joint belongs to exactly one part; part names are
            usually :data:`BODY_PARTS` (used to group tokens in text).
        mirror_pairs: (left, right) joint id pairs swapped by mirroring.
        up_axis: the axis pointing up in the data's coordinates (``"y"``, ``"-y"``, ``"z"``...).
        units: length unit of positions (``"m"``, ``"cm"``, ``"px"``, ``"normalized"``).
        dims: 3 for 3D data, 2 for image-plane keypoints (stored with z = 0).
        description: where the layout comes from.
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    parts: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    mirror_pairs: tuple[tuple[int, int], ...] = ()
    up_axis: str = "y"
    units: str = "m"
    dims: int = 3
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "joints", tuple(str(j) for j in self.joints))
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        parts = {str(k): tuple(int(i) for i in v) for k, v in dict(self.parts).items()}
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "mirror_pairs", tuple((int(a), int(b)) for a, b in self.mirror_pairs))
        self._validate()

    # ------------------------------------------------------------------ validation
    def _fail(self, message: str, field_name: str) -> None:
        raise SkeletonFormatError(message, format_name=self.name, field=field_name)

    def _validate(self) -> None:
        J = len(self.joints)
        if not self.name or not isinstance(self.name, str):
            self._fail(f"expected a non-empty name, found {self.name!r}", "name")
        if J == 0:
            self._fail("expected at least one joint, found none", "joints")
        if len(set(self.joints)) != J:
            dup = sorted({j for j in self.joints if self.joints.count(j) > 1})
            self._fail(f"expected unique joint names, found duplicates {dup}", "joints")
        if len(self.parents) != J:
            self._fail(f"expected one parent per joint ({J}), found {len(self.parents)}", "parents")
        if -1 not in self.parents:
            self._fail("expected at least one root (parent -1), found none", "parents")
        for i, p in enumerate(self.parents):
            if p != -1 and not 0 <= p < J:
                self._fail(f"joint {i} ({self.joints[i]}) has parent {p}, expected -1 or 0..{J - 1}",
                           "parents")
            if p == i:
                self._fail(f"joint {i} ({self.joints[i]}) is its own parent", "parents")
        reaches_root = [False] * J  # every chain must reach a root; linear in J, so deep chains stay cheap
        for i in range(J):
            walk, on_walk, j = [], set(), i
            while j != -1 and not reaches_root[j]:
                if j in on_walk:
                    self._fail(f"cycle through joint {j} ({self.joints[j]})", "parents")
                walk.append(j)
                on_walk.add(j)
                j = self.parents[j]
            for k in walk:
                reaches_root[k] = True
        if self.parts:
            owner: dict[int, str] = {}
            for part, ids in self.parts.items():
                for i in ids:
                    if not 0 <= i < J:
                        self._fail(f"part {part!r} names joint {i}, expected 0..{J - 1}", "parts")
                    if i in owner:
                        self._fail(f"joint {i} ({self.joints[i]}) is in both {owner[i]!r} and {part!r}",
                                   "parts")
                    owner[i] = part
            missing = [self.joints[i] for i in range(J) if i not in owner]
            if missing:
                self._fail(f"expected parts to cover every joint, missing {missing}", "parts")
        for a, b in self.mirror_pairs:
            if not (0 <= a < J and 0 <= b < J) or a == b:
                self._fail(f"mirror pair ({a}, {b}) must name two different joints in 0..{J - 1}",
                           "mirror_pairs")
        if self.up_axis not in UP_AXES:
            self._fail(f"expected one of {UP_AXES}, found {self.up_axis!r}", "up_axis")
        if self.dims not in (2, 3):
            self._fail(f"expected 2 or 3, found {self.dims!r}", "dims")

    # ------------------------------------------------------------------ derived
    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @property
    def roots(self) -> tuple[int, ...]:
        """The joints without a parent, in joint order: one for a tree, several for a forest."""
        return tuple(i for i, p in enumerate(self.parents) if p == -1)

    @property
    def is_tree(self) -> bool:
        """True when every joint hangs from one root (False: disconnected parts)."""
        return len(self.roots) == 1

    @property
    def root(self) -> int:
        """The single root joint; a :class:`SkeletonFormatError` for a forest, which has none (use
        :attr:`roots`: centring then takes the mean of the roots, see
        :func:`hf_skeleton.skeletons.transforms.root_positions`)."""
        roots = self.roots
        if len(roots) != 1:
            self._fail(f"no single root: {len(roots)} disconnected parts rooted at "
                       f"{[self.joints[r] for r in roots]} (use .roots)", "parents")
        return roots[0]

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) joint ids, one per non-root joint, in child order. E = J - number of roots."""
        return tuple((p, c) for c, p in enumerate(self.parents) if p != -1)

    @property
    def num_bones(self) -> int:
        return self.num_joints - len(self.roots)

    def components(self) -> list[tuple[int, ...]]:
        """The joints of each disconnected part (one per root, in root order), each in joint order."""
        top = []
        for i in range(self.num_joints):
            j = i
            while self.parents[j] != -1:
                j = self.parents[j]
            top.append(j)
        return [tuple(i for i in range(self.num_joints) if top[i] == r) for r in self.roots]

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise SkeletonFormatError(f"no joint named {joint!r}; joints are {list(self.joints)}",
                                      format_name=self.name, field="joints") from None

    def part_of(self) -> list[str]:
        """Part name of each joint (``"torso"`` when the format defines no parts)."""
        out = ["torso"] * self.num_joints
        for part, ids in self.parts.items():
            for i in ids:
                out[i] = part
        return out

    def mirror_permutation(self) -> list[int]:
        """Joint permutation that swaps every mirror pair."""
        perm = list(range(self.num_joints))
        for a, b in self.mirror_pairs:
            perm[a], perm[b] = b, a
        return perm

    def topological_order(self) -> list[int]:
        """Joint ids with each parent before its children (for forward kinematics)."""
        depth = []
        for i in range(self.num_joints):
            d, j = 0, i
            while self.parents[j] != -1:
                j, d = self.parents[j], d + 1
            depth.append(d)
        return sorted(range(self.num_joints), key=lambda i: (depth[i], i))

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "joints": list(self.joints),
            "parents": list(self.parents),
            "parts": {k: list(v) for k, v in self.parts.items()},
            "mirror_pairs": [list(p) for p in self.mirror_pairs],
            "up_axis": self.up_axis,
            "units": self.units,
            "dims": self.dims,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SkeletonFormat":
        required = ("name", "joints", "parents")
        if not isinstance(data, Mapping):
            raise SkeletonFormatError(f"expected a mapping, found {type(data).__name__}")
        for key in required:
            if key not in data:
                raise SkeletonFormatError(f"missing key {key!r}", format_name=data.get("name"),
                                          field=key)
        known = {"name", "joints", "parents", "parts", "mirror_pairs", "up_axis", "units", "dims",
                 "description"}
        unknown = set(data) - known
        if unknown:
            raise SkeletonFormatError(f"unknown keys {sorted(unknown)}", format_name=data.get("name"))
        return cls(**{k: v for k, v in data.items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SkeletonFormat) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.name, self.joints, self.parents))

    def __repr__(self) -> str:
        return f"SkeletonFormat(name={self.name!r}, joints={self.num_joints}, dims={self.dims}, units={self.units!r})"


# ---------------------------------------------------------------------- registry
_REGISTRY: dict[str, SkeletonFormat] = {}


def register_format(fmt: SkeletonFormat, *, overwrite: bool = False) -> SkeletonFormat:
    """Make ``fmt`` available by name to :func:`get_format`, configs and readers."""
    if not isinstance(fmt, SkeletonFormat):
        raise SkeletonFormatError(f"expected a SkeletonFormat, found {type(fmt).__name__}")
    existing = _REGISTRY.get(fmt.name)
    if existing is not None and existing != fmt and not overwrite:
        raise SkeletonFormatError("a different format is already registered under this name; "
                                  "pass overwrite=True to replace it", format_name=fmt.name)
    _REGISTRY[fmt.name] = fmt
    return fmt


def get_format(name: "str | SkeletonFormat | Mapping[str, Any]") -> SkeletonFormat:
    """A registered format by name; a SkeletonFormat passes through; a dict is parsed."""
    if isinstance(name, SkeletonFormat):
        return name
    if type(name).__name__ == "SkeletonFormat" and callable(getattr(name, "to_dict", None)):
        # the same class loaded from another copy of this module (trust_remote_code folders)
        return SkeletonFormat.from_dict(name.to_dict())
    if isinstance(name, Mapping):
        return SkeletonFormat.from_dict(name)
    if not isinstance(name, str):
        raise SkeletonFormatError(f"expected a format name, SkeletonFormat or dict, found {type(name).__name__}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SkeletonFormatError(f"unknown format; registered formats are {list_formats()}",
                                  format_name=name) from None


def format_for_config(fmt: "str | SkeletonFormat | Mapping[str, Any]") -> "str | dict[str, Any]":
    """What a model config stores for a format: its name when that name is registered with this very
    definition, else the full definition (so a user-defined format travels inside config.json)."""
    fmt = get_format(fmt)
    registered = _REGISTRY.get(fmt.name)
    return fmt.name if registered is not None and registered == fmt else fmt.to_dict()


def list_formats() -> list[str]:
    return sorted(_REGISTRY)


def _parts_by_name(joints: Iterable[str], extra_torso: Iterable[str] = ()) -> dict[str, tuple[int, ...]]:
    """Assign joints to body parts from their canonical names."""
    parts: dict[str, list[int]] = {p: [] for p in BODY_PARTS}
    arm_words = ("shoulder", "elbow", "wrist", "hand", "thumb", "pinky", "index", "collar")
    leg_words = ("hip", "knee", "ankle", "foot", "heel", "toe")
    for i, name in enumerate(joints):
        side = "left" if name.startswith("left_") else "right" if name.startswith("right_") else None
        if side and any(w in name for w in arm_words) and "foot" not in name:
            parts[f"{side}_arm"].append(i)
        elif side and any(w in name for w in leg_words):
            parts[f"{side}_leg"].append(i)
        else:
            parts["torso"].append(i)
    return {k: tuple(v) for k, v in parts.items() if v}


def _mirror_by_name(joints: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    pairs = []
    for i, name in enumerate(joints):
        if name.startswith("left_"):
            other = "right_" + name[len("left_"):]
            if other in joints:
                pairs.append((i, joints.index(other)))
    return tuple(pairs)


def _builtin(name: str, joints: list[str], parents: list[int], *, parts=None, **kw) -> SkeletonFormat:
    jt = tuple(joints)
    return register_format(SkeletonFormat(
        name=name, joints=jt, parents=tuple(parents), parts=parts or _parts_by_name(jt),
        mirror_pairs=_mirror_by_name(jt), **kw))


KINECT_V2 = _builtin(
    "kinect_v2",
    ["pelvis", "spine", "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
     "right_shoulder", "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle",
     "left_foot", "right_hip", "right_knee", "right_ankle", "right_foot", "thorax", "left_hand_tip",
     "left_thumb", "right_hand_tip", "right_thumb"],
    [-1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 7, 11, 11],
    description="Microsoft Kinect v2, 25 joints, NTU RGB+D order (spine_base=pelvis, spine_mid=spine, "
                "spine_shoulder=thorax). Camera space, metres, y up.",
)

KINECT_V1 = _builtin(
    "kinect_v1",
    ["pelvis", "spine", "thorax", "head", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
     "right_shoulder", "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle",
     "left_foot", "right_hip", "right_knee", "right_ankle", "right_foot"],
    [-1, 0, 1, 2, 2, 4, 5, 6, 2, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18],
    description="Microsoft Kinect v1, 20 joints, N-UCLA order (hip_center=pelvis, shoulder_center=thorax). "
                "Camera space, metres, y up.",
)

SMPL22 = _builtin(
    "smpl22",
    ["pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
     "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
     "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist"],
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19],
    description="SMPL body joints without hands (HumanML3D new_joints), metres, y up.",
)

H36M17 = _builtin(
    "h36m17",
    ["pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "spine",
     "thorax", "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
     "right_elbow", "right_wrist"],
    [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15],
    parts={"torso": (0, 7, 8, 9, 10), "left_arm": (11, 12, 13), "right_arm": (14, 15, 16),
           "left_leg": (4, 5, 6), "right_leg": (1, 2, 3)},
    description="Human3.6M 17-joint layout (as in VideoPose3D / Superman); 'neck' is the nose/neck joint.",
)

COCO17 = _builtin(
    "coco17",
    ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
     "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
     "right_knee", "left_ankle", "right_ankle"],
    [-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14],
    parts={"torso": (0, 1, 2, 3, 4), "left_arm": (5, 7, 9), "right_arm": (6, 8, 10),
           "left_leg": (11, 13, 15), "right_leg": (12, 14, 16)},
    up_axis="-y", units="px", dims=2,
    description="COCO 17 keypoints (image plane, pixels, y down). Tree rooted at the nose; no spine or "
                "pelvis joint.",
)

OPENPOSE25 = _builtin(
    "openpose25",
    ["nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
     "left_wrist", "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
     "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
     "left_heel", "right_big_toe", "right_small_toe", "right_heel"],
    [1, 8, 1, 2, 3, 1, 5, 6, -1, 8, 9, 10, 8, 12, 13, 0, 0, 15, 16, 14, 19, 14, 11, 22, 11],
    parts={"torso": (0, 1, 8, 15, 16, 17, 18), "left_arm": (5, 6, 7), "right_arm": (2, 3, 4),
           "left_leg": (12, 13, 14, 19, 20, 21), "right_leg": (9, 10, 11, 22, 23, 24)},
    up_axis="-y", units="px", dims=2,
    description="OpenPose BODY_25 (image plane, pixels, y down); mid_hip = pelvis.",
)

# OpenPose BODY_25B (the experimental model Pose2Sim's demo was triangulated from): the 17 COCO keypoints in
# COCO order, then the upper neck and the top of the head, then the six foot keypoints. 25 keypoints like
# BODY_25 but another layout (no mid-hip; index 1 is the left eye, not the neck). No pelvis joint: the tree is
# rooted at the neck as Pose2Sim's markers are (``pose2sim21``), the hips hang from it.
BODY25B = _builtin(
    "body25b",
    ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
     "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
     "right_knee", "left_ankle", "right_ankle", "neck", "head", "left_big_toe", "left_small_toe",
     "left_heel", "right_big_toe", "right_small_toe", "right_heel"],
    [18, 0, 0, 1, 2, 17, 17, 5, 6, 7, 8, 17, 17, 11, 12, 13, 14, -1, 17, 15, 19, 15, 16, 22, 16],
    up_axis="-y", units="px", dims=2,
    description="OpenPose BODY_25B (image plane, pixels, y down): COCO's 17 keypoints, then neck (OpenPose's "
                "upper neck) and head (top of the head), then big toe, small toe, heel of each foot. Tree rooted "
                "at the neck.",
)

# BlazePose: MediaPipe's 33 landmarks as ``load_skeleton("clip.mp4")`` returns them (world landmarks, metres,
# rotated 180 degrees about x so that y points up; see readers/video_pose.py). No mid-hip or neck landmark:
# the tree is rooted at the left hip, the right hip and left shoulder hang from it, the right shoulder from
# the right hip (the torso as a ring cut open at the shoulders), the face from the mouth corners.
BLAZEPOSE33 = _builtin(
    "blazepose33",
    ["nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
     "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
     "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
     "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
     "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
     "left_foot_index", "right_foot_index"],
    [9, 0, 1, 2, 0, 4, 5, 3, 6, 11, 12, 23, 24, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16, -1, 23, 23, 24,
     25, 26, 27, 28, 27, 28],
    parts={"torso": tuple(range(11)), "left_arm": (11, 13, 15, 17, 19, 21),
           "right_arm": (12, 14, 16, 18, 20, 22), "left_leg": (23, 25, 27, 29, 31),
           "right_leg": (24, 26, 28, 30, 32)},
    up_axis="y", units="m", dims=3,
    description="MediaPipe BlazePose 33 landmarks as world coordinates in metres, y up (MediaPipe's world "
                "frame, whose y points down, rotated 180 degrees about x), origin between the hips in every "
                "frame. Tree rooted at the left hip.",
)
