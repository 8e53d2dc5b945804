"""The VGMT recipe: 16-frame clips of the 43-joint CMU hierarchy, whole trials held out; or the same
windows of any converted dataset (``--dataset DIR_OR_HUB_ID``, #15), evaluated on its ``--eval-split``.

Shared by ``examples/train_vgmt.py cmu``, ``hf-skeleton train vgmt`` and
:func:`~hf_skeleton.training.api.train_vgmt` (same options, same code); the embedded ``vgmt-cmu``
checkpoint was made by the CMU path. Clips are normalised into [-1, 1] as the authors do and mapped back
before scoring MPJPE against the raw joints: in mm for CMU, in the data's units (and mm when they are a
length) for a dataset, whose clips keep their own format (a user ``FORMAT.json`` included).
"""

from __future__ import annotations

import glob
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import set_seed

from ..errors import HFSkeletonError, SkeletonFileError, SkeletonInputError
from ..evaluation import codebook_health, mm, mpjpe
from ..models.vgmt import VGMTConfig, VGMTModel, VGMTProcessor, normalize_motion
from ..skeletons.formats import SkeletonFormat
from ..skeletons.io import load_skeleton
from ..skeletons.sequence import SkeletonSequence
from ..skeletons.transforms import augment as augment_clip
from ..skeletons.transforms import check_augment_options
from .motion_data import MotionData, load_motion_dataset, observed_runs, person_tracks, reject_with_dataset
from .recipe_config import as_config, require
from .recipe_data import DatasetOptions
from .recipe_progress import Phase, RecipeProgress, ResumeOptions
from .vgmt_recipe import vgmt_trainer, vgmt_training_args

logger = logging.getLogger(__name__)


@dataclass
class VGMTRecipeConfig(ResumeOptions, DatasetOptions):
    """Options of the VGMT recipe (``hf-skeleton train vgmt --help``; ``examples/train_vgmt.py`` adds its
    Pose2Sim ones): CMU by default, or ``dataset`` with its splits
    (:class:`~hf_skeleton.training.recipe_data.DatasetOptions`; the label and text columns are not read)."""

    data: str | None = field(default=None, metadata={"help": "folder holding cmu_mocap_bvh/ (default: ../shared/data)"})
    max_steps: int = 1500
    batch_size: int = 16
    lr: float = 1e-3
    num_codes: int = 512
    code_dim: int = 128
    channels: list[int] = field(default_factory=lambda: [32, 64])
    clip_len: int = 16
    stride: int = 8
    fps: float = field(default=30.0, metadata={
        "help": "frame rate after subsampling (every step-th frame, step = round(clip fps / fps))"})
    augment_angle: float = field(default=0.0, metadata={
        "help": "training yaw augmentation: each training clip turned about the up axis by a random angle in "
                "[-A, A] degrees, drawn anew every time it is read (0: off)"})
    mirror_prob: float = field(default=0.0, metadata={
        "help": "training augmentation: the probability of mirroring a training clip left-right with the "
                "format's mirror pairs (0: off)"})
    seed: int = 0
    threads: int = 1
    output_dir: str = "runs/vgmt"

    def __post_init__(self):
        require(self, positive=("max_steps", "batch_size", "lr", "num_codes", "code_dim", "clip_len", "stride",
                                "fps", "threads"), non_negative=("save_steps", "augment_angle"))
        if not 0.0 <= self.mirror_prob <= 1.0:
            raise SkeletonInputError("VGMTRecipeConfig.mirror_prob", "a probability in [0, 1]", self.mirror_prob)

    def augmentation(self) -> dict[str, float] | None:
        """The :func:`~hf_skeleton.skeletons.transforms.augment` options of the training clips, or None.
        No scaling: the box normalisation would undo it."""
        if not (self.augment_angle or self.mirror_prob):
            return None
        return {"max_angle": self.augment_angle, "mirror_prob": self.mirror_prob, "scale_range": (1.0, 1.0)}


RECIPE_CONFIG = VGMTRecipeConfig  # what the CLI parses for this recipe


def _data_dir(args) -> Path:
    if getattr(args, "data", None):
        return Path(args.data)
    from ..data.discovery import find_demo_clip

    clip = find_demo_clip()
    if clip is None:
        raise HFSkeletonError("no data folder found: pass --data pointing at the folder that holds cmu_mocap_bvh/")
    return clip.parents[2]


class ClipDataset(Dataset):
    """Normalised clips: skeletons (T, J, 3) in [-1, 1] (labels = the same), optional frames and 2D joints.

    With ``augment`` (:func:`~hf_skeleton.skeletons.transforms.augment` options) and ``fmt``, every read
    of a clip draws a new rotation / mirror of the raw clip (from one generator seeded by ``seed``) and
    normalises that by its own box; ``x``, ``centre`` and ``scale`` stay the un-augmented clips'.
    """

    def __init__(self, clips: np.ndarray, frames: np.ndarray | None = None, joints_2d: np.ndarray | None = None,
                 *, augment: dict[str, Any] | None = None, fmt: SkeletonFormat | None = None, seed: int = 0):
        x = torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32))
        self.x, self.centre, self.scale = normalize_motion(x)
        self.frames = None if frames is None else torch.from_numpy(frames)
        self.joints_2d = None if joints_2d is None else torch.from_numpy(joints_2d.astype(np.float32))
        self.augment = None if not augment else check_augment_options(augment)
        if self.augment is not None:
            if frames is not None:  # a turned skeleton no longer matches its pixels and 2D joints
                raise SkeletonInputError("augment", "skeleton-only clips (no frames)", "clips with frames")
            if fmt is None:
                raise SkeletonInputError("fmt", "the clips' SkeletonFormat (its up axis and mirror pairs)", None)
            self.raw, self.fmt = clips.astype(np.float32), fmt
            if len(self.raw):  # bad options fail here, not at the first read in training
                self._augmented(0, np.random.default_rng(seed))
            self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.x)

    def _augmented(self, i: int, rng: np.random.Generator | None = None) -> torch.Tensor:
        seq = augment_clip(SkeletonSequence(self.raw[i], format=self.fmt), rng=rng or self.rng, **self.augment)
        return normalize_motion(torch.from_numpy(seq.positions[:, 0])[None])[0][0]

    def __getitem__(self, i: int) -> dict:
        if self.augment is not None:
            x = self._augmented(i)
            return {"skeletons": x, "labels": x}
        item = {"skeletons": self.x[i], "labels": self.x[i]}
        if self.frames is not None:
            item["pixel_values"] = self.frames[i]
            item["joints_2d"] = self.joints_2d[i]
        return item


def windows(n: int, length: int, stride: int, start: int = 0, stop: int | None = None) -> list[int]:
    stop = n if stop is None else stop
    return list(range(start, stop - length + 1, stride))


def load_cmu(data: str | Path, fps: float, clip_len: int, stride: int):
    """(train clips, test clips, format, units, trial split) from the dominant BVH hierarchy."""
    seqs = {Path(f).stem: load_skeleton(f) for f in sorted(glob.glob(str(Path(data) / "cmu_mocap_bvh" / "*.bvh")))}
    main_fmt = Counter(s.format.name for s in seqs.values()).most_common(1)[0][0]
    trials = sorted(k for k, s in seqs.items() if s.format.name == main_fmt)
    test_trials = trials[::5]
    out = {"train": [], "test": []}
    for k in trials:
        s = seqs[k]
        step = max(1, round(s.fps / fps))
        pos = s.positions[::step, 0]
        split = "test" if k in test_trials else "train"
        out[split] += [pos[i:i + clip_len] for i in windows(len(pos), clip_len, stride)]
    fmt = seqs[trials[0]].format
    return (np.stack(out["train"]), np.stack(out["test"]), fmt, seqs[trials[0]].meta.get("units", fmt.units),
            {"train": [t for t in trials if t not in test_trials], "test": test_trials})


def train_vgmt(model, train_set, args, output_dir: Path, log: Callable[[str], Any] = print) -> dict:
    """Train ``model`` in place for ``args.max_steps``; returns the training log. Resumable
    (:class:`~hf_skeleton.training.recipe_progress.RecipeProgress`): checkpoints every ``args.save_steps`` in
    ``output_dir/runs``; with ``args.resume`` a finished run is reloaded and an interrupted one continues from
    its last checkpoint (a changed config is a typed error)."""
    progress = RecipeProgress(output_dir, args, [Phase("vgmt", args.max_steps)], resume=args.resume, log=log)
    restored = progress.restore(VGMTModel, None)
    if restored is not None:  # finished before: its weights, not a new run
        model.load_state_dict(restored[0].state_dict())
        progress.end()
        return progress.results("vgmt")
    progress.start("vgmt")
    targs = vgmt_training_args(str(progress.checkpoints("vgmt")), max_steps=args.max_steps,
                               batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed, use_cpu=True,
                               **args.checkpoint_options())
    trainer = vgmt_trainer(model, train_set, targs)
    start = time.time()
    result = trainer.train(resume_from_checkpoint=progress.resume_checkpoint("vgmt"))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    train_log = {"train_seconds": round(time.time() - start, 1), "final_train_loss": float(result.training_loss),
                 "first_logged_loss": losses[0] if losses else None,
                 "last_logged_loss": losses[-1] if losses else None}
    progress.finish("vgmt", model, results=train_log)
    progress.end()
    return train_log


@torch.no_grad()
def evaluate_vgmt(model, test_set: ClipDataset, units: str, batch_size: int, visual: bool,
                  data_units: bool = False) -> dict:
    """Reconstruction of ``test_set`` mapped back to the raw joints: ``mpjpe_mm``, the number of clips and the
    codebook's health; with ``data_units`` also ``mpjpe`` in ``units`` (``mpjpe_mm`` then only for a length
    unit: px or normalised data have no millimetres)."""
    model.eval()
    recon, codes = [], []
    for i in range(0, len(test_set), batch_size):
        sl = slice(i, i + batch_size)
        kw = {}
        if visual:
            kw = {"pixel_values": test_set.frames[sl], "joints_2d": test_set.joints_2d[sl]}
        out = model(test_set.x[sl], return_loss=False, **kw)
        recon.append(out.reconstruction * test_set.scale[sl] + test_set.centre[sl])
        codes.append(out.codes)
    pred = torch.cat(recon).numpy()
    target = (test_set.x * test_set.scale + test_set.centre).numpy()
    K = model.config.num_codes
    health = codebook_health(torch.cat(codes).numpy(), K, model.codebook.lookup(torch.arange(K)).numpy())
    health = health.to_dict()
    health.pop("cosine_histogram")
    error = mpjpe(pred, target)
    if not data_units:
        return {"mpjpe_mm": round(float(mm(error, units)), 2), "num_clips": len(test_set), "codebook": health}
    scores = {"mpjpe": float(f"{error:.4g}"), "units": units}
    try:
        scores["mpjpe_mm"] = round(float(mm(error, units)), 2)
    except SkeletonInputError:  # px, normalized: no length unit
        pass
    return {**scores, "num_clips": len(test_set), "codebook": health}


def run_cmu(args, log: Callable[[str], Any] | None = None) -> dict:
    """Train a skeleton-only VGMT on CMU (12 whole trials held out), evaluate, save ``output_dir/model``."""
    log = log or logger.info  # the CLI passes print
    if getattr(args, "dataset", None):  # examples/train_vgmt.py parses --dataset too; only run() reads it
        raise SkeletonInputError("dataset", "no --dataset for the CMU experiment (run it with hf-skeleton train vgmt "
                                 "--dataset, or vgmt_cmu.run)", args.dataset)
    train_clips, test_clips, fmt, units, split = load_cmu(_data_dir(args), args.fps, args.clip_len, args.stride)
    log(f"CMU: format {fmt.name} ({fmt.num_joints} joints, {units}); {len(train_clips)} train clips from "
          f"{len(split['train'])} trials, {len(test_clips)} test clips from held-out trials {split['test']}")
    config = VGMTConfig(format=fmt.to_dict(), num_codes=args.num_codes, code_dim=args.code_dim,
                           channels=args.channels, norm_groups=16, use_vision=False)
    set_seed(args.seed)
    model = VGMTModel(config)
    train_set = ClipDataset(train_clips, augment=args.augmentation(), fmt=fmt, seed=args.seed)
    test_set = ClipDataset(test_clips)
    log_ = train_vgmt(model, train_set, args, Path(args.output_dir), log=log)
    result = {"experiment": "cmu", "format": fmt.name, "units": units, "split": split, "train": log_,
              "num_parameters": sum(p.numel() for p in model.parameters()),
              "held_out": evaluate_vgmt(model, test_set, units, args.batch_size, visual=False),
              "train_subset": evaluate_vgmt(model, ClipDataset(train_clips[::10]), units, args.batch_size, visual=False)}
    model.save_pretrained(Path(args.output_dir) / "model")
    return result


def dataset_windows(clips: list[SkeletonSequence], fps: float, clip_len: int, stride: int,
                    num_joints: int) -> np.ndarray:
    """Windows of a dataset's clips, cut as :func:`load_cmu` cuts CMU trials: every ``step``-th frame
    (``step = round(clip fps / fps)``), ``clip_len`` frames every ``stride``, within each person's runs of
    fully observed frames. Returns (N, clip_len, J, 3) in the data's units."""
    out = []
    for seq in clips:
        step = max(1, round(seq.fps / fps))
        for pos, mask in person_tracks(seq):
            for run in observed_runs(pos[::step], mask[::step], clip_len):
                out += [run[i:i + clip_len] for i in windows(len(run), clip_len, stride)]
    return np.stack(out).astype(np.float32) if out else np.zeros((0, clip_len, num_joints, 3), np.float32)


def _dataset_windows(data: MotionData, split: str, args) -> np.ndarray:
    clips = data.train if split == data.train_split else data.test
    cut = dataset_windows(clips, args.fps, args.clip_len, args.stride, data.format.num_joints)
    if not len(cut):
        longest = max((c.num_frames for c in clips), default=0)
        raise SkeletonFileError(data.source, f"split {split}", f"clips with at least {args.clip_len} fully observed "
                                f"frames at {args.fps:g} fps (--clip-len, --fps)",
                                f"{len(clips)} clips, the longest {longest} frames")
    return cut


def run_dataset(args, log: Callable[[str], Any] | None = None) -> tuple[dict, MotionData]:
    """Train a skeleton-only VGMT on the windows of ``args.dataset``'s ``train_split`` in the data's own
    format, evaluate it on ``eval_split``'s windows, save ``output_dir/model`` with its processor; returns
    ``(results, data)``."""
    log = log or logger.info
    reject_with_dataset(args, data="--data is the CMU folder")
    data = load_motion_dataset(args.dataset, train_split=args.train_split, eval_split=args.eval_split, log=log)
    fmt, units = data.format, data.units
    train_clips = _dataset_windows(data, data.train_split, args)
    test_clips = _dataset_windows(data, data.eval_split, args) if data.eval_split else None
    log(f"{data.name}: {len(train_clips)} {data.train_split} windows of {args.clip_len} frames at {args.fps:g} fps"
        + (f", {len(test_clips)} {data.eval_split} windows" if test_clips is not None else ""))
    config = VGMTConfig(format=fmt.to_dict(), num_codes=args.num_codes, code_dim=args.code_dim,
                        channels=args.channels, norm_groups=16, use_vision=False)
    set_seed(args.seed)
    model = VGMTModel(config)
    train_set = ClipDataset(train_clips, augment=args.augmentation(), fmt=fmt, seed=args.seed)
    log_ = train_vgmt(model, train_set, args, Path(args.output_dir), log=log)
    result = {"experiment": "dataset", "dataset": data.source, "format": fmt.name, "units": units,
              "split": {"train": data.train_split, "test": data.eval_split},
              "windows": {"train": len(train_clips), "test": 0 if test_clips is None else len(test_clips)},
              "train": log_, "num_parameters": sum(p.numel() for p in model.parameters())}
    if test_clips is not None:
        result["held_out"] = evaluate_vgmt(model, ClipDataset(test_clips), units, args.batch_size, visual=False,
                                           data_units=True)
    result["train_subset"] = evaluate_vgmt(model, ClipDataset(train_clips[::10]), units, args.batch_size,
                                           visual=False, data_units=True)
    folder = Path(args.output_dir) / "model"
    model.save_pretrained(folder)
    VGMTProcessor.from_config(config).save_pretrained(folder)
    return result, data


def _card_row(held: dict) -> dict:
    return {**{k: held[k] for k in ("mpjpe_mm", "mpjpe", "units") if k in held}, "clips": held["num_clips"],
            "active_codes": held["codebook"]["active"], "perplexity": held["codebook"]["perplexity"]}


def run(args: VGMTRecipeConfig, command: str = "hf-skeleton train vgmt", log: Callable[[str], Any] | None = None) -> dict:
    """``run_cmu`` (or :func:`run_dataset` with ``args.dataset``) plus what a published folder needs:
    results.json, eval_results.json and the card. ``args``: a :class:`VGMTRecipeConfig` (or parsed options
    with its fields). Returns the results with ``folder``, the saved model's folder."""
    log = log or logger.info  # the CLI passes print
    import json

    from ..cards import write_model_card, write_results

    args = as_config(VGMTRecipeConfig, args)
    torch.set_num_threads(args.threads)
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    folder = Path(args.output_dir) / "model"
    if args.dataset:
        result, data = run_dataset(args, log=log)
        (Path(args.output_dir) / "results.json").write_text(json.dumps(result, indent=2))
        held = result.get("held_out")
        rows = {f"{data.name} ({data.eval_split})": {**_card_row(held), "_index": data.index()}} if held else {}
        write_results(folder, rows, training_command=command)
        fmt = data.format
        write_model_card(folder, datasets=[data.name], description=(
            f"A skeleton-only VGMT (motion tokenizer, {args.num_codes} codes) for the {fmt.num_joints}-joint format "
            f"`{fmt.name}`, trained on {result['windows']['train']} windows of {args.clip_len} frames at "
            f"{args.fps:g} fps from the `{data.train_split}` split of {data.name}."))
        shown = (f"{held['mpjpe']:g} {held['units']}" + (f" ({held['mpjpe_mm']} mm)" if "mpjpe_mm" in held else "")
                 if held else "not evaluated (--eval-split none)")
        log(f"{data.eval_split or 'held-out'} MPJPE {shown}; model, processor, results and card in {folder}")
        return {**result, "folder": str(folder)}
    result = run_cmu(args, log=log)
    (Path(args.output_dir) / "results.json").write_text(json.dumps(result, indent=2))
    held = result["held_out"]
    write_results(folder, {f"CMU held-out trials ({len(result['split']['test'])} trials, {held['num_clips']} clips)": {
        "mpjpe_mm": held["mpjpe_mm"], "clips": held["num_clips"], "active_codes": held["codebook"]["active"],
        "perplexity": held["codebook"]["perplexity"]}}, training_command=command)
    write_model_card(folder, datasets=["CMU MoCap"])
    log(f"held-out MPJPE {held['mpjpe_mm']} mm; model, results and card in {folder}")
    return {**result, "folder": str(folder)}
