"""What each raw dataset looks like: how to list its clips, which split/config a clip belongs to,
its `datasets` features, one row per clip, and what its dataset card says.

Every source reads clips through :func:`hf_skeleton.load_skeleton`; this module only adds
dataset-level facts (label sets, official splits). A source is registered in :data:`SOURCES`.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import SkeletonFileError
from ..skeletons.io import load_skeleton
from ..skeletons.readers._common import open_regular, regular_file_size
from ..skeletons.readers.nucla import NUCLA_ACTIONS
from .features import sequence_to_example, skeleton_features


@dataclass(frozen=True)
class Item:
    """One clip to convert. ``group`` names the shard files it goes to (a split, or a combination of
    protocol splits); ``config`` the dataset configuration (configs differ in joint layout)."""

    path: str
    id: str
    group: str
    config: str = "default"
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scan:
    items: list[Item]
    configs: dict[str, dict[str, list[str]]]  # card config -> split -> ["<item config>/<group>", ...]
    notes: list[str] = field(default_factory=list)
    features_info: dict[str, Any] = field(default_factory=dict)  # e.g. label names chosen while scanning
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) left out by skip_bad


class _Skips:
    """Per-file scan errors: raised as a typed error naming the file, or with ``skip_bad`` recorded as
    ``(file name, reason)`` and the file left out (``convert --skip-bad``)."""

    def __init__(self, skip_bad: bool):
        self.skip_bad, self.skipped = skip_bad, []

    def check(self, path: Path, fn: Callable[[], Any]) -> Any:
        """``fn()``, or None when it failed and the file is skipped."""
        try:
            return fn()
        except (SkeletonFileError, OSError) as err:
            if not isinstance(err, SkeletonFileError):
                err = SkeletonFileError(path, None, "a readable file", f"{type(err).__name__}: {err}")
            if not self.skip_bad:
                raise err from None
            self.skipped.append((Path(path).name, str(err)))
            return logging.getLogger(__name__).warning("skipped %s: %s", path, err)  # None: the file is left out


class Source(ABC):
    """A dataset: subclasses set the class attributes and implement scan / features / to_example."""

    name: ClassVar[str]
    pretty_name: ClassVar[str]
    license: ClassVar[str]
    upstream: ClassVar[str]
    citation: ClassVar[str] = ""
    task_categories: ClassVar[tuple[str, ...]] = ("other",)
    tags: ClassVar[tuple[str, ...]] = ("skeleton", "motion", "human-pose", "hf-skeleton")
    layout: ClassVar[str] = ""
    description: ClassVar[str] = ""
    options: ClassVar[tuple[str, ...]] = ()  # keyword options of scan(), from convert_dataset(source_options=)

    @abstractmethod
    def scan(self, raw_dir: Path, limit: int | None = None, skip_bad: bool = False) -> Scan:
        """List the clips of ``raw_dir`` (at most ``limit``) with their shard groups and configs; a file
        that cannot be listed (bad name, unreadable header, not a regular file) is a typed error, or
        with ``skip_bad`` left out and recorded in ``Scan.skipped``."""

    @abstractmethod
    def features(self, config: str, info: dict[str, Any]):
        """The :class:`datasets.Features` of ``config`` (``info``: facts found while scanning)."""

    @abstractmethod
    def to_example(self, item: Item, info: dict[str, Any]) -> dict[str, Any]:
        """Read one clip into a row of :meth:`features`."""


def _files(raw_dir: Path, pattern: str, what: str, skips: _Skips | None = None) -> list[Path]:
    """The regular files matching ``pattern`` below ``raw_dir``; a match that is neither a folder nor a
    regular file (a FIFO, a device, a dangling link) is a typed error, or skipped (``skips``)."""
    if not raw_dir.is_dir():
        raise SkeletonFileError(raw_dir, None, f"a folder of {what}", "no such folder")
    skips = skips or _Skips(False)
    files = []
    for p in sorted(raw_dir.rglob(pattern)):
        if p.is_file():
            files.append(p)
        elif not p.is_dir():
            skips.check(p, lambda p=p: regular_file_size(p))  # raises: a FIFO, a device, a dangling link
    if not files:
        raise SkeletonFileError(raw_dir, None, f"{what} ({pattern}) in the folder or below", "none")
    return files


def _limit(files: list[Path], limit: int | None) -> list[Path]:
    """The first ``limit`` files, spread evenly over the sorted list so that every split is present."""
    if limit is None or limit >= len(files):
        return files
    idx = np.unique(np.linspace(0, len(files) - 1, max(int(limit), 1)).round().astype(int))
    return [files[i] for i in idx]


# ---------------------------------------------------------------------- N-UCLA
class NUCLASource(Source):
    name = "nucla"
    pretty_name = "Northwestern-UCLA Multiview Action3D (skeletons)"
    license = "other"
    upstream = "Wang et al., Cross-view Action Modeling, Learning and Recognition, CVPR 2014 (CTR-GCN data layout)"
    task_categories = ("video-classification",)
    layout = "kinect_v1 (20 Kinect v1 joints, metres, camera space, y up), 30 fps"
    description = ("1,484 clips of 10 actions by 10 subjects seen from 3 Kinect v1 views. Standard cross-view "
                   "split: train on views 1 and 2, test on view 3. License: research use only.")
    _NAME = re.compile(r"a(\d+)_s(\d+)_e(\d+)_v(\d+)")

    def _view(self, f: Path) -> int:
        m = self._NAME.search(f.stem)
        if m is None:
            raise SkeletonFileError(f, "file name", "aNN_sNN_eNN_vNN.json", f.name)
        return int(m.group(4))

    def scan(self, raw_dir, limit=None, skip_bad=False):
        skips = _Skips(skip_bad)
        items = []
        for f in _limit(_files(raw_dir, "*.json", "N-UCLA clip JSON files", skips), limit):
            view = skips.check(f, lambda f=f: self._view(f))
            if view is not None:
                items.append(Item(str(f), f.stem, "train" if view in (1, 2) else "test"))
        return Scan(items, {"default": {"train": ["default/train"], "test": ["default/test"]}},
                    notes=["Cross-view split: train = views 1, 2; test = view 3."], skipped=skips.skipped)

    def features(self, config, info):
        import datasets

        return skeleton_features(20, label_names=NUCLA_ACTIONS,
                                 meta_columns=("label_name", "subject", "view", "episode"),
                                 extra={"action_id": datasets.Value("int32")})

    def to_example(self, item, info):
        seq = load_skeleton(item.path, format="nucla")
        return sequence_to_example(seq, id=item.id, label=seq.meta["label"] - 1,
                                   meta_columns=("label_name", "subject", "view", "episode"),
                                   action_id=int(seq.meta.get("action_id", -1)))


# ---------------------------------------------------------------------- CMU BVH
def bvh_joint_count(path: Path) -> int:
    """Joints (ROOT + JOINT, no End Sites) declared in a BVH header, read without parsing motion."""
    count = 0
    with open_regular(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            word = line.split(maxsplit=1)[0] if line.strip() else ""
            if word in ("ROOT", "JOINT"):
                count += 1
            elif word == "MOTION":
                break
    if count == 0:
        raise SkeletonFileError(path, "HIERARCHY", "a ROOT and JOINT declarations", "none")
    return count


class CMUSource(Source):
    name = "cmu"
    pretty_name = "CMU Graphics Lab Motion Capture (BVH) with text labels"
    license = "other"
    upstream = "CMU Graphics Lab Motion Capture Database, mocap.cs.cmu.edu (BVH conversion); labels from the CMU index"
    task_categories = ("text-generation", "video-classification")
    layout = ("per-file BVH hierarchy: one configuration per joint count (`joints43`, `joints31`, ...); "
              "positions from forward kinematics in the file's units; fps from Frame Time (120 or 30)")
    description = ("Motion-capture trials with a short label (`label_name`) and a longer description (`text`) "
                   "from the CMU index. BVH files do not share one joint layout, so each joint count is its own "
                   "configuration; each row also stores its layout as JSON (`format_spec`). CMU: free for "
                   "research and commercial use, please cite CMU.")

    def scan(self, raw_dir, limit=None, skip_bad=False):
        skips = _Skips(skip_bad)
        files = _limit(_files(raw_dir, "*.bvh", "BVH files", skips), limit)
        counts = {f: skips.check(f, lambda f=f: bvh_joint_count(f)) for f in files}
        items = [Item(str(f), f.stem, "train", config=f"joints{n}") for f, n in counts.items() if n is not None]
        configs = {c: {"train": [f"{c}/train"]} for c in sorted({i.config for i in items},
                                                          key=lambda c: -sum(i.config == c for i in items))}
        notes = [f"{sum(i.config == c for i in items)} trials in configuration {c}" for c in configs]
        return Scan(items, configs, notes=notes + ["No official split: every trial is in `train`."],
                    skipped=skips.skipped)

    def features(self, config, info):
        return skeleton_features(int(config[len("joints"):]), meta_columns=("label_name", "text", "subject", "trial"))

    def to_example(self, item, info):
        seq = load_skeleton(item.path, format="bvh")
        if f"joints{seq.num_joints}" != item.config:
            raise SkeletonFileError(item.path, "HIERARCHY", f"{item.config[6:]} joints as scanned", seq.num_joints)
        return sequence_to_example(seq, id=item.id, meta_columns=("label_name", "text", "subject", "trial"))


# ---------------------------------------------------------------------- HumanML3D
class HumanML3DSource(Source):
    name = "humanml3d"
    pretty_name = "HumanML3D (SMPL-22 joints with captions)"
    license = "other"
    upstream = "Guo et al., Generating Diverse and Natural 3D Human Motions from Text, CVPR 2022 (HumanML3D repo)"
    task_categories = ("text-generation", "text-to-video")
    layout = "smpl22 (22 SMPL body joints, metres, y up), 20 fps"
    description = ("Motions from AMASS/HumanAct12 as `new_joints/<id>.npy` with captions in `texts/<id>.txt` and "
                   "the official `train/val/test.txt` id lists. HumanML3D code is MIT; the motions derive from "
                   "AMASS (non-commercial research license).")
    SPLITS = (("train", "train"), ("val", "validation"), ("test", "test"))

    def scan(self, raw_dir, limit=None, skip_bad=False):
        joints = raw_dir / "new_joints"
        if not joints.is_dir():
            raise SkeletonFileError(raw_dir, "new_joints/", "the official HumanML3D layout (new_joints/, texts/, "
                                    "train.txt, val.txt, test.txt)", "no new_joints folder")
        have = {p.stem: p for p in joints.glob("*.npy")}
        items, notes, configs = [], [], {}
        listed_any = False
        for file_split, split in self.SPLITS:
            lst = raw_dir / f"{file_split}.txt"
            if not lst.is_file():
                continue
            listed_any = True
            ids = lst.read_text(encoding="utf-8", errors="replace").split()
            present = [i for i in ids if i in have]
            notes.append(f"{split}: {len(present)} of {len(ids)} listed motions present")
            items += [Item(str(have[i]), i, split) for i in present]
        if not listed_any:
            items = [Item(str(have[i]), i, "train") for i in sorted(have)]
            notes.append("no split lists found: every motion is in `train`")
        if limit is not None:
            items = items[: int(limit)]
        if not items:
            raise SkeletonFileError(raw_dir, "new_joints/", "at least one listed motion", "none present")
        splits = [s for _, s in self.SPLITS if any(i.group == s for i in items)]
        configs["default"] = {s: [f"default/{s}"] for s in splits}
        return Scan(items, configs, notes=notes)

    def features(self, config, info):
        import datasets

        return skeleton_features(22, meta_columns=("text",),
                                 extra={"texts": datasets.List(datasets.Value("string"))})

    def to_example(self, item, info):
        seq = load_skeleton(item.path, format="humanml3d")
        captions = [t["caption"] for t in seq.meta.get("texts", [])]
        return sequence_to_example(seq, id=item.id, meta_columns=("text",), texts=captions)


# ---------------------------------------------------------------------- NTU RGB+D
NTU_ACTIONS = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw",
    "sitting down", "standing up (from sitting position)", "clapping", "reading", "writing", "tear up paper",
    "wear jacket", "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses",
    "put on a hat/cap", "take off a hat/cap", "cheer up", "hand waving", "kicking something", "reach into pocket",
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone", "playing with phone/tablet",
    "typing on a keyboard", "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute", "put the palms together",
    "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling", "touch head (headache)",
    "touch chest (stomachache/heart pain)", "touch back (backache)", "touch neck (neckache)",
    "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm", "punching/slapping other person",
    "kicking other person", "pushing other person", "pat on back of other person", "point finger at the other person",
    "hugging other person", "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    # NTU RGB+D 120 adds A61-A120
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball", "tennis bat swing",
    "juggling table tennis balls", "hush (quite)", "flick hair", "thumb up", "thumb down", "make ok sign",
    "make victory sign", "staple book", "counting money", "cutting nails", "cutting paper (using scissors)",
    "snapping fingers", "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper", "ball up paper",
    "play magic cube", "apply cream on face", "apply cream on hand back", "put on bag", "take off bag",
    "put something into a bag", "take something out of a bag", "open a box", "move heavy objects", "shake fist",
    "throw up cap/hat", "hands up (both hands)", "cross arms", "arm circles", "arm swings", "running on the spot",
    "butt kicks (kick backward)", "cross toe touch", "side kick", "yawn", "stretch oneself", "blow nose",
    "hit other person with something", "wield knife towards other person", "knock over other person (hit with body)",
    "grab other person's stuff", "shoot at other person with a gun", "step on foot", "high-five", "cheers and drink",
    "carry something with other person", "take a photo of other person", "follow other person",
    "whisper in other person's ear", "exchange things with other person", "support somebody with hand",
    "finger-guessing game (playing rock-paper-scissors)",
)
# Cross-subject training performers (NTU-60's 20 ids are the first 20 of NTU-120's 53).
NTU_TRAIN_SUBJECTS = frozenset((1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38, 45, 46,
                                47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
                                89, 91, 92, 93, 94, 95, 97, 98, 100, 103))
NTU_TRAIN_CAMERAS = frozenset((2, 3))  # cross-view
NTU_MISSING_LISTS = ("NTU_RGBD_samples_with_missing_skeletons.txt", "NTU_RGBD120_samples_with_missing_skeletons.txt")


def ntu_groups(setup: int, camera: int, performer: int) -> dict[str, str]:
    """Train/test side of one clip under the cross-subject, cross-view and cross-setup protocols."""
    return {"xsub": "train" if performer in NTU_TRAIN_SUBJECTS else "test",
            "xview": "train" if camera in NTU_TRAIN_CAMERAS else "test",
            "xset": "train" if setup % 2 == 0 else "test"}


def main_bodies(positions: np.ndarray, mask: np.ndarray, keep: int = 2) -> list[int]:
    """Indices of the ``keep`` most active bodies (sum over joints of the positional variance over
    observed frames, the usual NTU preprocessing), in their original order."""
    energy = []
    for p in range(positions.shape[1]):
        obs = mask[:, p].any(axis=1)
        pts = positions[obs, p]
        energy.append(float(pts.var(axis=0).sum()) if len(pts) > 1 else (0.0 if len(pts) else -1.0))
    top = sorted(np.argsort(energy)[::-1][:keep].tolist())
    return [p for p in top if energy[p] >= 0] or [0]


class NTUSource(Source):
    name = "ntu"
    pretty_name = "NTU RGB+D 60/120 (Kinect v2 skeletons)"
    license = "other"
    upstream = ("Shahroudy et al., NTU RGB+D, CVPR 2016; Liu et al., NTU RGB+D 120, TPAMI 2019 "
                "(rose1.ntu.edu.sg/dataset/actionRecognition)")
    task_categories = ("video-classification",)
    layout = "kinect_v2 (25 Kinect v2 joints, metres, camera space, y up), 30 fps; up to 2 bodies"
    description = ("Official `.skeleton` files (`SsssCcccPpppRrrrAaaa`). Configurations are the standard protocols: "
                   "`xsub` (training performers 1, 2, 4, 5, 8, 9, 13-19, 25, 27, 28, 31, 34, 35, 38 and, for NTU-120, "
                   "the 33 more of the official list), `xview` (training cameras 2 and 3), `xset` (NTU-120: even "
                   "setups train). The two most active bodies are kept (`positions`, `positions_2`). Samples in "
                   "the official missing-skeleton lists are skipped when the list sits in the raw folder. "
                   "License: research use only (ROSE Lab release agreement).")

    _NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")

    def _action(self, f: Path) -> tuple[int, ...]:
        m = self._NAME.search(f.stem)
        if m is None:
            raise SkeletonFileError(f, "file name", "SsssCcccPpppRrrrAaaa.skeleton", f.name)
        setup, camera, performer, _, action = (int(g) for g in m.groups())
        if not 1 <= action <= len(NTU_ACTIONS):
            raise SkeletonFileError(f, "file name", f"an action A001..A{len(NTU_ACTIONS):03d}", f"A{action:03d}")
        return setup, camera, performer, action

    def scan(self, raw_dir, limit=None, skip_bad=False):
        skips = _Skips(skip_bad)
        files = _files(raw_dir, "*.skeleton", "NTU .skeleton files", skips)
        skip: set[str] = set()
        for name in NTU_MISSING_LISTS:
            for lst in raw_dir.rglob(name):
                skip |= set(lst.read_text(encoding="utf-8", errors="replace").split())
        files = [f for f in files if f.stem not in skip]
        files = _limit(files, limit)
        items, max_action, max_setup = [], 0, 0
        for f in files:
            parsed = skips.check(f, lambda f=f: self._action(f))
            if parsed is None:
                continue
            setup, camera, performer, action = parsed
            g = ntu_groups(setup, camera, performer)
            items.append(Item(str(f), f.stem, f"xsub-{g['xsub']}_xview-{g['xview']}_xset-{g['xset']}"))
            max_action, max_setup = max(max_action, action), max(max_setup, setup)
        groups = sorted({i.group for i in items})
        configs = {}
        protocols = ("xsub", "xview", "xset") if max_setup > 17 or max_action > 60 else ("xsub", "xview")
        for proto in protocols:
            configs[proto] = {split: [f"default/{g}" for g in groups if f"{proto}-{split}" in g]
                              for split in ("train", "test")}
            configs[proto] = {k: v for k, v in configs[proto].items() if v}
        num_classes = 60 if max_action <= 60 else 120
        notes = [f"{len(skip)} samples listed as missing skeletons were skipped" if skip else
                 "no missing-skeleton list found in the raw folder: every file was converted",
                 f"label set: NTU RGB+D {num_classes}"]
        return Scan(items, configs, notes=notes, features_info={"num_classes": num_classes}, skipped=skips.skipped)

    def features(self, config, info):
        return skeleton_features(25, label_names=NTU_ACTIONS[: info.get("num_classes", 120)], second_person=True,
                                 meta_columns=("label_name", "setup", "camera", "performer", "replication"))

    def to_example(self, item, info):
        seq = load_skeleton(item.path, format="ntu")
        keep = main_bodies(seq.positions, seq.mask)
        if keep != list(range(seq.num_persons)):
            seq = seq.copy(positions=seq.positions[:, keep], mask=seq.mask[:, keep],
                           orientations=None if seq.orientations is None else seq.orientations[:, keep])
        label = int(seq.meta["label"]) - 1
        seq.meta["label_name"] = NTU_ACTIONS[label]
        return sequence_to_example(seq, id=item.id, label=label, second_person=True,
                                   meta_columns=("label_name", "setup", "camera", "performer", "replication"))


# ---------------------------------------------------------------------- Pose2Sim
class Pose2SimSource(Source):
    name = "pose2sim"
    pretty_name = "Pose2Sim trials: videos, 2D keypoints per camera, triangulated 3D markers"
    license = "bsd-3-clause"
    upstream = "Pose2Sim (Pagnon et al., JOSS 2022), demo data shipped in the pose2sim package"
    task_categories = ("keypoint-detection",)
    layout = ("3D: TRC markers (21 for Pose2Sim's body model, mapped to `pose2sim21`; other marker sets get their "
              "own configuration `markersM`), metres; 2D: OpenPose BODY_25B pixels (x, y) per camera with a mask")
    description = ("One row per 3D marker file (raw or filtered) of a trial, with the trial's camera video paths "
                   "(relative to the raw folder), the 2D keypoints of every camera (`keypoints_2d`, (T, C, 25, 2), "
                   "first detected person, mask from confidence > 0) and the calibration file path.")

    @staticmethod
    def _trial_roots(raw_dir: Path) -> list[Path]:
        """The raw folder when it holds one trial; else each first-level subfolder holding a pose-3d/."""
        pose3d = sorted({t.parent for t in _files(raw_dir, "*.trc", "Pose2Sim trials (pose-3d/*.trc)")})
        if len(pose3d) == 1:
            return [raw_dir]
        return sorted({raw_dir / d.relative_to(raw_dir).parts[0] for d in pose3d})

    @staticmethod
    def _cameras(trial: Path) -> list[Path]:
        """Per-camera OpenPose folders (``pose/camXX_json``; any ``*_json`` folder when there is no pose/)."""
        found = sorted(p for p in trial.rglob("*_json") if p.is_dir())
        raw = [p for p in found if p.parent.name == "pose"]
        return raw or found

    @staticmethod
    def _markers(trc: Path) -> int:
        with open_regular(trc, encoding="utf-8", errors="replace") as fh:
            head = [next(fh, "") for _ in range(3)]
        value = head[2].split()[3] if len(head[2].split()) > 3 else ""
        if not (value.isdecimal() and len(value) <= 9):
            raise SkeletonFileError(trc, "line 3", "a NumMarkers value (4th column)", head[2][:60])
        return int(value)

    def scan(self, raw_dir, limit=None, skip_bad=False):
        skips = _Skips(skip_bad)
        items, counts = [], set()
        for trial in self._trial_roots(raw_dir):
            cams = self._cameras(trial)
            counts.add(len(cams))
            for trc in sorted(trial.rglob("*.trc")):
                markers = skips.check(trc, lambda trc=trc: self._markers(trc))
                if markers is None:
                    continue
                items.append(Item(str(trc), trc.stem, "train", config=f"markers{markers}", info={"trial": str(trial)}))
        if len(counts) > 1:
            raise SkeletonFileError(raw_dir, "pose/*_json", "the same number of cameras in every trial", sorted(counts))
        if limit is not None:
            items = items[: int(limit)]
        configs = {c: {"train": [f"{c}/train"]} for c in sorted({i.config for i in items})}
        return Scan(items, configs, features_info={"num_cameras": counts.pop()},
                    notes=["One row per 3D marker file of a trial; every row is in `train`."], skipped=skips.skipped)

    def features(self, config, info):
        import datasets

        C = info["num_cameras"]
        return skeleton_features(int(config[len("markers"):]), meta_columns=(), extra={
            "keypoints_2d": datasets.Array4D(shape=(None, C, 25, 2), dtype="float32"),
            "keypoints_2d_mask": datasets.Array3D(shape=(None, C, 25), dtype="bool"),
            "cameras": datasets.List(datasets.Value("string")),
            "videos": datasets.List(datasets.Value("string")),
            "calibration": datasets.Value("string"),
            "trial": datasets.Value("string"),
        })

    def to_example(self, item, info):
        raw_dir, trial = Path(info["raw_dir"]), Path(item.info["trial"])
        seq = load_skeleton(item.path, format="trc")
        cams = self._cameras(trial)
        views = [load_skeleton(c, format="openpose", fps=seq.fps) for c in cams]
        T2 = max((v.num_frames for v in views), default=0)
        kp = np.zeros((T2, len(cams), 25, 2), np.float32)
        km = np.zeros((T2, len(cams), 25), bool)
        for c, v in enumerate(views):
            kp[: v.num_frames, c] = v.positions[:, 0, :, :2]
            km[: v.num_frames, c] = v.mask[:, 0]
        files = sorted(p for p in trial.rglob("*") if p.is_file())
        videos = [str(p.relative_to(raw_dir)) for p in files if p.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv")]
        calib = [str(p.relative_to(raw_dir)) for p in files if "calib" in p.name.lower()]
        return sequence_to_example(seq, id=item.id, meta_columns=(), keypoints_2d=kp, keypoints_2d_mask=km,
                                   cameras=[c.name[: -len("_json")] for c in cams], videos=videos,
                                   calibration=calib[0] if calib else "",
                                   trial=str(trial.relative_to(raw_dir)) or ".")


SOURCES: dict[str, Source] = {s.name: s for s in (NUCLASource(), CMUSource(), HumanML3DSource(), NTUSource(),
                                                  Pose2SimSource())}

__all__ = [
    "NTU_ACTIONS",
    "NTU_TRAIN_CAMERAS",
    "NTU_TRAIN_SUBJECTS",
    "SOURCES",
    "Item",
    "Scan",
    "Source",
    "bvh_joint_count",
    "main_bodies",
    "ntu_groups",
]
