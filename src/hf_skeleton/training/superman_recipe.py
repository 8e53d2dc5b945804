"""The Superman recipe: a unified model for motion prediction and in-betweening, scored strictly.

Shared by ``examples/train_superman.py``, ``hf-skeleton train superman`` and
:func:`~hf_skeleton.training.api.train_superman` (same options, same code):

1. CMU BVH trials -> H36M-17 joints in metres at ``--fps`` (:func:`cmu_to_h36m`); every fifth trial
   held out whole for testing. Or, with ``--dataset DIR_OR_HUB_ID`` (#15), the clips of a converted dataset
   in their own format (a user ``FORMAT.json`` included), in metres at ``--fps``: each person's runs of
   fully observed frames of the ``--train-split`` clips to train, of the ``--eval-split`` clips to test
   (:func:`dataset_trials`).
2. A small skeleton-only VGMT is trained on ``--clip``-frame windows of the training trials, each
   normalised the way a task normalises what the VGMT tokenises (:func:`vgmt_training_clips`): by its
   own box, by the box of the preceding history (SkelPred's future) or by the box of its keyframes
   (MIB's clip), so that the tokens the tasks produce come from the range the VGMT was trained on.
3. Superman (a tiny Qwen2.5-VL on the VGMT's ``<skel_k>`` tokens, or ``--base``: a pretrained causal LM with
   LoRA and trained motion-token rows, or a Qwen2-VL / Qwen2.5-VL, :mod:`~hf_skeleton.training.superman_base`)
   is trained on the task mixture
   (SkelPred + MIB), and, at the same budget (steps x batch), on each task alone.
4. Prediction (MPJPE per horizon, 80/160/320/400 ms) and in-betweening (MPJPE on the missing middle
   half) against the raw joints and against the tokenised ground truth, beside the zero-velocity and
   linear-interpolation baselines. Decoding is free (strict parsing: a failure counts, and is scored
   with the baseline's output) and template-constrained.

``OUT/results.json`` holds everything; ``OUT/unified`` is the unified model with its processor,
``eval_results.json`` and card, loadable with ``pipeline("skeleton-generation", model=OUT/unified)``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cards import write_model_card, write_results
from ..errors import HFSkeletonError, SkeletonFileError, SkeletonInputError
from ..evaluation.motion_metrics import (
    inbetween_error,
    mm,
    prediction_errors,
)
from ..models.vgmt import VGMTConfig, VGMTModel, normalize_motion
from ..skeletons.io import load_skeleton
from ..testing import tiny_superman
from .motion_data import MotionData, load_motion_dataset, observed_runs, person_tracks, reject_with_dataset
from .recipe_config import as_config, require
from .recipe_data import DatasetOptions
from .recipe_progress import NOT_COMPARED, Phase, RecipeProgress, ResumeOptions
from .superman_base import SupermanBase
from .superman_eval import _mm, evaluate_inbetween, evaluate_predict, tokenised_gt
from .superman_tasks import (
    SupermanTaskBuilder,
    build_superman_trainer,
    cmu_to_h36m,
    keyframe_count,
    normalize_like,
    superman_sft_config,
)

logger = logging.getLogger(__name__)

TASK_RUNS = (("predict", "inbetween"), ("predict",), ("inbetween",))
RUN_NAMES = {"unified": TASK_RUNS[0], "predict": TASK_RUNS[1], "inbetween": TASK_RUNS[2]}  # --runs


@dataclass
class SupermanRecipeConfig(ResumeOptions, DatasetOptions):
    """Options of the Superman recipe (``hf-skeleton train superman --help`` lists them): CMU by default, or
    ``dataset`` with its splits (:class:`~hf_skeleton.training.recipe_data.DatasetOptions`; the label and text
    columns are not read)."""

    data: str | None = field(default=None, metadata={
        "help": "folder of CMU .bvh files, or one holding cmu_mocap_bvh/ (default: ../shared/data/cmu_mocap_bvh)"})
    out: str = field(default="runs/superman", metadata={"aliases": ["--output-dir"], "help": "output folder"})
    fps: float = 20.0
    clip: int = field(default=8, metadata={"help": "frames of history = future = in-betweening clip"})
    vgmt_steps: int = field(default=1500, metadata={"help": "VGMT training steps (batch 32; about 3 min on one CPU core)"})
    steps: int = field(default=1000, metadata={"help": "Superman training steps per run"})
    batch: int = 4
    hidden: int = field(default=128, metadata={"help": "width of the tiny from-scratch LLM (without --base)"})
    lr: float | None = field(default=None, metadata={
        "help": "learning rate (default: 2e-3 from scratch, 1e-4 on a pretrained --base)"})
    base: str | None = field(default=None, metadata={
        "help": "the LLM Superman builds on: 'none' (default: a tiny Qwen2.5-VL trained from scratch), a causal LM "
                "(a backbone name such as smollm2-135m-instruct, a folder or a Hub id: LoRA on q/v and its motion-token "
                "rows train, the saved folder holds those and names the LLM) or a Qwen2-VL / Qwen2.5-VL folder or Hub "
                "id (every weight fine-tuned)"})
    eval: int = field(default=30, metadata={"help": "test windows per task"})
    max_train: int = field(default=2000, metadata={
        "help": "training windows per task, at most (CMU at 20 fps has about 800)"})
    max_trials: int = field(default=0, metadata={"help": "read only the first N trials, sorted by name (0: all)"})
    unified_only: bool = field(default=False, metadata={
        "help": "train only the unified model (skip the single-task runs at the same budget): --runs unified"})
    runs: str = field(default="all", metadata={
        "help": "the runs to train, each --steps: 'all' or a comma list of unified (predict+inbetween, the one "
                "saved to OUT/unified), predict, inbetween (the single-task runs)"})
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.base, str) and self.base.strip().lower() in ("", "none", "tiny"):
            self.base = None
        if self.lr is None:
            self.lr = 2e-3 if self.base is None else 1e-4
        require(self, positive=("fps", "clip", "vgmt_steps", "steps", "batch", "hidden", "lr", "eval", "max_train"),
                non_negative=("max_trials", "save_steps"))
        self.task_runs()  # a typed error now, before any data is read

    def task_runs(self) -> tuple[tuple[str, ...], ...]:
        """The task tuples of the runs to train, in :data:`TASK_RUNS` order."""
        if self.unified_only:
            return TASK_RUNS[:1]
        names = [n.strip() for n in str(self.runs).split(",") if n.strip()]
        if names == ["all"]:
            return TASK_RUNS
        if not names or any(n not in RUN_NAMES for n in names):
            raise SkeletonInputError(f"{type(self).__name__}.runs", f"'all' or a comma list of {list(RUN_NAMES)}",
                                     self.runs)
        return tuple(tasks for tasks in TASK_RUNS if tasks in {RUN_NAMES[n] for n in names})


RECIPE_CONFIG = SupermanRecipeConfig  # what the CLI parses for this recipe


def cmu_dir(args: SupermanRecipeConfig) -> Path:
    if args.data:
        folder = Path(args.data)
        return folder / "cmu_mocap_bvh" if (folder / "cmu_mocap_bvh").is_dir() else folder
    from ..data.discovery import find_data_dir

    root = find_data_dir("cmu_mocap_bvh")
    if root is None:
        raise HFSkeletonError("no data folder found: pass --data pointing at the CMU .bvh files")
    return root / "cmu_mocap_bvh"


def load_cmu(folder: Path, fps: float, max_trials: int = 0) -> dict[str, np.ndarray]:
    """Every trial (or the first ``max_trials``) as (T, 17, 3) metres at ``fps``."""
    paths = sorted(Path(folder).glob("*.bvh"))
    if not paths:
        raise HFSkeletonError(f"no .bvh files in {folder}: pass --data")
    out = {}
    for path in paths[:max_trials or None]:
        seq = cmu_to_h36m(load_skeleton(path))
        seq = seq.resample(max(2, round(seq.num_frames * fps / seq.fps)))
        out[path.stem] = seq.positions[:, 0]
    return out


def split_trials(trials: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(train, test): every fifth trial, sorted by name, held out whole."""
    test_names = set(sorted(trials)[::5])
    train = {n: m for n, m in trials.items() if n not in test_names}
    test = {n: m for n, m in trials.items() if n in test_names}
    if not train or not test:
        raise HFSkeletonError(f"need at least 2 trials (every fifth is held out), found {len(trials)}")
    return train, test


def dataset_trials(data: MotionData, fps: float, min_frames: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(train, test) "trials" of a dataset, as :func:`load_cmu` gives CMU's: every clip resampled to ``fps``,
    each person's runs of fully observed frames (at least ``min_frames``) as (T, J, 3) arrays in metres.

    Raises:
        SkeletonInputError: a format whose units are not a length (px, normalised): the scores are in mm.
    """
    try:
        to_metres = mm(1.0, data.units) / 1000.0
    except SkeletonInputError:
        raise SkeletonInputError("units", f"a length unit (Superman's scores are in mm): format {data.format.name!r} "
                                 f"of {data.source} is in", data.units) from None

    def trials(clips) -> dict[str, np.ndarray]:
        out = {}
        for i, seq in enumerate(clips):
            seq = seq.resample(max(2, round(seq.num_frames * fps / seq.fps)))
            for p, (pos, mask) in enumerate(person_tracks(seq)):
                for r, run in enumerate(observed_runs(pos, mask, min_frames)):
                    out[f"{i:06d}/{p}/{r}"] = (run * np.float32(to_metres)).astype(np.float32)
        return out

    return trials(data.train), trials(data.test)


def _require_windows(found: list, data: MotionData, split: str, frames: int, fps: float) -> list:
    if not found:
        raise SkeletonFileError(data.source, f"split {split}", f"clips with at least {frames} fully observed frames "
                                f"at {fps:g} fps (2 x --clip for prediction)", "none long enough")
    return found


def windows(trials: dict[str, np.ndarray], length: int, stride: int) -> list[np.ndarray]:
    return [m[s : s + length] for m in trials.values() for s in range(0, len(m) - length + 1, stride)]


def vgmt_training_clips(windows_2t: list[np.ndarray], clip: int, keyframes: int | None = None) -> torch.Tensor:
    """The VGMT's training clips, normalised like the tasks normalise them (:func:`normalize_like`).

    Each 2T-frame window (history h = the first T frames, future f = the last T) gives three T-frame
    clips: h by its own box (SkelPred's history, Vid2Skel's clip), f by h's box (SkelPred's future, which
    leaves [-1, 1] as the body moves on) and f by the box of its first and last K frames (MIB's clip,
    K = :func:`keyframe_count`). windows_2t: N arrays (2T, J, 3) -> (3N, T, J, 3).
    """
    k = keyframe_count(clip, keyframes)
    out = []
    for i, w in enumerate(windows_2t):
        w = np.asarray(w, np.float32)
        if w.ndim != 3 or w.shape[0] != 2 * clip or w.shape[-1] != 3:
            raise SkeletonInputError(f"windows_2t[{i}]", f"a ({2 * clip}, J, 3) window", w.shape)
        w = torch.from_numpy(w)
        h, f = w[:clip], w[clip:]
        (hn, fn), _, _ = normalize_like(h, h, f)
        (mn,), _, _ = normalize_like(torch.cat([f[:k], f[-k:]]), f)
        out += [hn, fn, mn]
    return torch.stack(out)


def train_vgmt(clips: torch.Tensor, steps: int, seed: int = 0, log: Callable[[str], Any] | None = None,
               format: Any = "h36m17") -> VGMTModel:
    """A small skeleton-only VGMT of ``format`` (H36M-17 for CMU; 256 codes, x2 temporal compression),
    AdamW 1e-3, batch 32, on already normalised clips (N, T, J, 3) (:func:`vgmt_training_clips`)."""
    log = log or logger.info  # the CLI passes print
    torch.manual_seed(seed)
    cfg = VGMTConfig(format=format, num_codes=256, code_dim=128, channels=[32, 64], dilations=[1, 3], norm_groups=8,
                     use_vision=False, reset_every=20)
    model = VGMTModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    model.train()
    for step in range(steps):
        loss = model(skeletons=clips[rng.integers(0, len(clips), 32)]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"  vgmt step {step}: loss {loss.item():.4f}")
    return model.eval()


def vgmt_error_mm(vgmt: VGMTModel, clips: list[np.ndarray]) -> float:
    x = torch.from_numpy(np.stack(clips))
    n, c, s = normalize_motion(x)
    with torch.no_grad():
        rec = vgmt.decode(vgmt.encode(n), num_frames=x.shape[1]) * s + c
    return float((rec - x).norm(dim=-1).mean()) * 1000


def _copy_last_step(model, builder: SupermanTaskBuilder, history: np.ndarray, num_frames: int) -> np.ndarray:
    """The history's last step of codes repeated over the future's steps, decoded in the history's box."""
    (h,), centre, scale = normalize_like(*[torch.from_numpy(history)] * 2)
    codes = builder.codes(h)
    steps = -(-num_frames // model.config.vgmt_config.temporal_downsample)
    with torch.no_grad():
        motion = model.codes_to_motion(codes[-1:].repeat(steps, 1)[None], num_frames=num_frames)[0]
    return (motion * scale + centre).numpy()


def tokeniser_floors(vgmt: VGMTModel, pred_windows: list[np.ndarray], mib_clips: list[np.ndarray],
                     fps: float) -> dict:
    """MPJPE (mm) of the VGMT-decoded ground truth vs the raw joints, tokenised as the tasks tokenise it:
    prediction per horizon on 2T-frame windows (the future in its history's box), in-betweening on the
    missing middle of T-frame clips (the clip in its keyframes' box). ``predict_copy_mm``: what a model
    that repeats the history's last step of codes scores, the token-space zero velocity."""
    model, proc = tiny_superman(vgmt.config, hidden_size=32, layers=1)
    model.vgmt.load_state_dict(vgmt.state_dict())
    b = SupermanTaskBuilder(model.eval(), proc)
    futures = np.stack([w[len(w) // 2 :] for w in pred_windows])
    floors = np.stack([tokenised_gt(model, b.predict(w[: len(w) // 2], w[len(w) // 2 :])) for w in pred_windows])
    copies = np.stack([_copy_last_step(model, b, w[: len(w) // 2], len(w) - len(w) // 2) for w in pred_windows])
    mib = []
    for clip in mib_clips:
        ex = b.inbetween(clip)
        k = ex["keyframes"][0]
        missing = np.zeros(len(clip), bool)
        missing[k:-k] = True
        mib.append(inbetween_error(tokenised_gt(model, ex), clip, missing))
    return {"predict_mm": _mm(prediction_errors(floors, futures, fps)),
            "predict_copy_mm": _mm(prediction_errors(copies, futures, fps)),
            "inbetween_mm": round(float(np.mean(mib)) * 1000, 1),
            "windows": {"predict": len(pred_windows), "inbetween": len(mib_clips)}}


def build_examples(vgmt, train_pred, train_mib, hidden, processor=None):
    """Task texts, built once: every model trained below shares the tokenizer and the VGMT. ``processor``:
    that of the models to train (a ``--base``'s tokenizer and chat template; default the tiny model's)."""
    model, proc = tiny_superman(vgmt.config, hidden_size=hidden, layers=2)
    model.vgmt.load_state_dict(vgmt.state_dict())
    b = SupermanTaskBuilder(model, processor or proc)
    return {
        "predict": [b.predict(w[: len(w) // 2], w[len(w) // 2 :]) for w in train_pred],
        "inbetween": [b.inbetween(c) for c in train_mib],
    }


def train_superman(vgmt, tasks, examples, steps, batch, hidden, lr, seed, out_dir, log: Callable[[str], Any] | None = None,
                   base: SupermanBase | None = None, resume_from_checkpoint: str | None = None, **sft_overrides: Any):
    """A fresh Superman on the shared VGMT (tiny, or built on ``base``), trained with SFTTrainer on the examples
    of ``tasks``; ``resume_from_checkpoint`` continues an interrupted run from its checkpoint in ``out_dir``
    (``sft_overrides``: e.g. the checkpointing arguments)."""
    log = log or logger.info  # the CLI passes print
    torch.manual_seed(seed)
    model, proc = (base or SupermanBase(hidden=hidden)).build(vgmt, seed=seed)
    rows = [ex for t in tasks for ex in examples[t]]
    rng = np.random.default_rng(seed)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    args = superman_sft_config(str(out_dir), max_steps=steps, per_device_train_batch_size=batch, learning_rate=lr,
                               logging_steps=max(1, steps // 10), seed=seed, **sft_overrides)
    trainer = build_superman_trainer(model, proc, rows, args)
    t0 = time.time()
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    log(f"  {'+'.join(tasks)}: {len(rows)} examples, {steps} steps in {time.time() - t0:.0f}s, "
        f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    return model.eval(), proc, losses


def _card_results(unified: dict, fps: float, name: str = "CMU held-out", index: dict | None = None) -> dict:
    """The unified model's scores as flat rows for the model card, free and template-constrained decoding (the
    pipeline's default) (``index``: the dataset's model-index entry)."""
    extra = {"_index": index} if index else {}
    rows = {}
    for decoding in ("free", "constrained"):
        if decoding not in unified:  # not evaluated (--eval-split none)
            continue
        pred, mib = unified[decoding]["predict"], unified[decoding]["inbetween"]
        rows[f"{name} prediction ({fps:g} fps, {decoding} decoding)"] = {
            **{f"strict_mpjpe_mm@{int(ms):03d}ms": v for ms, v in pred["strict_vs_raw_mm"].items()},
            **{f"zero_velocity_mm@{int(ms):03d}ms": v for ms, v in pred["zero_velocity_mm"].items()},
            "parse_failure_rate": pred["parse_failure_rate"], **extra}
        rows[f"{name} in-betweening (middle half, {decoding} decoding)"] = {
            "strict_mpjpe_mm": mib["strict_vs_raw_mm"], "linear_interpolation_mm": mib["linear_interpolation_mm"],
            "parse_failure_rate": mib["parse_failure_rate"], **extra}
    return rows


def run(args: SupermanRecipeConfig, command: str = "hf-skeleton train superman",
        log: Callable[[str], Any] | None = None) -> dict:
    """Train the VGMT and the Superman runs, score them, save ``OUT/unified`` and ``OUT/results.json``.
    ``args``: a :class:`SupermanRecipeConfig` (or parsed options with its fields)."""
    log = log or logger.info  # the CLI passes print
    args = as_config(SupermanRecipeConfig, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = SupermanBase.resolve(args.base, args.hidden)  # before any training: a bad --base fails at once
    T = args.clip
    data = None
    if args.dataset:
        reject_with_dataset(args, data="--data is the CMU folder", max_trials="it counts CMU trials")
        data = load_motion_dataset(args.dataset, train_split=args.train_split, eval_split=args.eval_split, log=log)
        train, test = dataset_trials(data, args.fps, T)
        fmt, name = data.format, f"{data.name} ({data.eval_split})"
        _require_windows(windows(train, 2 * T, 4), data, data.train_split, 2 * T, args.fps)
        if data.eval_split:
            _require_windows(windows(test, 2 * T, T), data, data.eval_split, 2 * T, args.fps)
    else:
        train, test = split_trials(load_cmu(cmu_dir(args), args.fps, args.max_trials))
        fmt, name = "h36m17", "CMU held-out"
    rng = np.random.default_rng(args.seed)

    def pick(ws: list, n: int) -> list:
        return [ws[i] for i in sorted(rng.choice(len(ws), min(n, len(ws)), replace=False))]

    pred_test = pick(windows(test, 2 * T, T), args.eval)
    mib_test = pick(windows(test, T, T), args.eval)
    if data is None:
        log(f"{len(train)} train / {len(test)} test trials at {args.fps} fps")
    else:
        log(f"{data.name}: {len(train)} {data.train_split} tracks / {len(test)} {data.eval_split} tracks of fully "
            f"observed frames at {args.fps:g} fps ({len(pred_test)} prediction and {len(mib_test)} in-betweening "
            "test windows)")
    if base.kind != "tiny":
        log(f"Superman on {base.name} ({base.kind}; --hidden is not used)")

    runs = args.task_runs()
    # --runs / --unified-only only leave phases out, so that a run resumed with more runs adds them
    progress = RecipeProgress(out, args, [Phase("vgmt", args.vgmt_steps, "warm-up")]
                              + [Phase("+".join(tasks), args.steps) for tasks in runs], resume=args.resume, log=log,
                              ignore=NOT_COMPARED + ("unified_only", "runs"))
    if progress.done("vgmt"):  # a resumed run: the VGMT saved when its phase finished
        vgmt = VGMTModel.from_pretrained(out / "vgmt").eval()
        vgmt_log = progress.results("vgmt")
    else:
        progress.start("vgmt")
        t0 = time.time()
        vgmt = train_vgmt(vgmt_training_clips(windows(train, 2 * T, 4), T), args.vgmt_steps, args.seed, log=log,
                          format=fmt)
        vgmt.save_pretrained(out / "vgmt")
        vgmt_log = {"train_s": round(time.time() - t0)}
        progress.finish("vgmt", results=vgmt_log)
    results: dict[str, Any] = {"setup": vars(args), "vgmt": dict(vgmt_log)}
    if test:
        results["vgmt"].update({
            "heldout_recon_mm": round(vgmt_error_mm(vgmt, windows(test, T, T)), 1),
            "heldout_tokeniser_floor": tokeniser_floors(vgmt, windows(test, 2 * T, T), windows(test, T, T), args.fps)})
        log(f"VGMT held-out reconstruction (own box, mm): {results['vgmt']['heldout_recon_mm']}; tokeniser floors "
            f"on all held-out windows: {json.dumps(results['vgmt']['heldout_tokeniser_floor'])}")

    train_pred = pick(windows(train, 2 * T, 4), args.max_train)
    train_mib = pick(windows(train, T, 4), args.max_train)
    t0 = time.time()
    examples = build_examples(vgmt, train_pred, train_mib, args.hidden,
                              processor=None if base.kind == "tiny" else base.processor(vgmt.config))
    log(f"task examples built in {time.time() - t0:.0f}s")
    folder = out / "unified"
    for tasks in runs:
        run_name = "+".join(tasks)
        if progress.done(run_name):  # scored (and, the unified run, saved) before; JSON keys: horizons as text
            results[run_name] = progress.results(run_name)
            continue
        progress.start(run_name)
        model, proc, losses = train_superman(vgmt, tasks, examples, args.steps, args.batch, args.hidden, args.lr,
                                             args.seed, progress.checkpoints(run_name), log=log, base=base,
                                             resume_from_checkpoint=progress.resume_checkpoint(run_name),
                                             **args.checkpoint_options())
        results[run_name] = {"loss_first": round(losses[0], 3), "loss_last": round(losses[-1], 3)}
        for constrained in (False, True) if test else ():
            t0 = time.time()
            ev = {}
            if "predict" in tasks:
                ev["predict"] = evaluate_predict(model, proc, pred_test, args.fps, constrained)
            if "inbetween" in tasks:
                ev["inbetween"] = evaluate_inbetween(model, proc, mib_test, constrained)
            results[run_name]["constrained" if constrained else "free"] = ev
            log(f"  {run_name} ({'constrained' if constrained else 'free'} decoding, {time.time() - t0:.0f}s): "
                + json.dumps(ev))
        if tasks == TASK_RUNS[0]:
            model.save_pretrained(folder)
            proc.save_pretrained(folder)
        progress.finish(run_name, results=results[run_name])
    progress.end()
    (out / "results.json").write_text(json.dumps(results, indent=1))
    if TASK_RUNS[0] not in runs:  # single-task runs only: scored, not saved
        log(json.dumps(results, indent=1))
        log(f"--runs {args.runs}: no unified run, no model saved; the scores are in {out / 'results.json'}")
        return {**results, "folder": None}
    write_results(folder, _card_results(results["+".join(TASK_RUNS[0])], args.fps, name,
                                        None if data is None else data.index()), training_command=command)
    llm = {"tiny": "a tiny Qwen2.5-VL trained from scratch", "vlm": f"`{base.name}` fine-tuned",
           "causal_lm": f"`{base.name}` with LoRA and trained motion-token rows"}[base.kind]
    if data is None:
        description = ("A small unified Superman (a tiny Qwen2.5-VL trained from scratch on the tokens of "
                       "a skeleton-only VGMT) for H36M-17 motion prediction and in-betweening, trained on "
                       f"CMU motion capture ({len(train)} trials; {len(test)} whole trials held out).")
        if base.kind != "tiny":
            description = description.replace("a tiny Qwen2.5-VL trained from scratch", llm)
    else:
        description = (f"A unified Superman ({llm} on the tokens of a skeleton-only VGMT) for motion prediction and "
                       f"in-betweening in the {data.format.num_joints}-joint format `{data.format.name}`, trained on "
                       f"the `{data.train_split}` split of {data.name} ({len(train)} tracks)"
                       + (f" and evaluated on its `{data.eval_split}` split." if data.eval_split else "."))
    write_model_card(folder, datasets=["CMU MoCap"] if data is None else [data.name], base_model=base.hub_id,
                     description=description)
    log(json.dumps(results, indent=1))
    log(f"saved to {folder}: pipeline('skeleton-generation', model='{folder}')")
    return {**results, "folder": str(folder)}
