"""LLaMo evidence on real data (CPU; tiny models trained from scratch, or `cmu --text-model NAME`: the recipe's pretrained LLaMo).

    python benchmarks/llamo_evidence.py nucla     # recognition: train N-UCLA views 1-2, top-1 on view 3
    python benchmarks/llamo_evidence.py ablation  # native motion vs k-means / VGMT motion tokens (N-UCLA)
    python benchmarks/llamo_evidence.py cmu       # captioning on CMU clips: BLEU-4 / ROUGE-L vs baseline
    python benchmarks/llamo_evidence.py cmu --text-model smollm2-135m-instruct --frames 32  # the same, SmolLM2 + LoRA
    python benchmarks/llamo_evidence.py pose2sim  # with vs without video (Pose2Sim, 4 cameras)

Each prints one JSON line of results. Data from ../shared/data (or HF_SKELETON_DATA). Metrics:
sacrebleu (BLEU-4) and rouge-score (ROUGE-L F1). Everything is seeded.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.cluster.vq
import torch

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonInputError
from hf_skeleton.evaluation import codebook_health
from hf_skeleton.evaluation.recognition import score_candidate_labels
from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config
from hf_skeleton.training.collators import SkeletonSFTCollator, chat_prompt
from hf_skeleton.training.llamo_stages import (
    INSTRUCTION_TEMPLATES,
    build_examples,
    stage_sft_config,
    to_sft_dataset,
    train_stage,
)
from hf_skeleton.training.llamo_recipe import LlamoRecipeConfig
from hf_skeleton.training.llamo_recipe import build as build_llamo
from hf_skeleton.training.motion_encoder_warmup import warm_up_motion_encoder
from hf_skeleton.training.superman_tasks import cmu_to_h36m

DATA = Path(os.environ.get("HF_SKELETON_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
NUCLA = ["pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down", "stand up",
         "donning", "doffing", "throw", "carry"]
REC_PROMPT = INSTRUCTION_TEMPLATES["recognition"][0]
SPECIALS = ["<motion>", "<video>"]


def tiny_llamo(tok, fmt, *, hidden=64, layers=2, frames=32, stride=4, video=None, align_view=True, **kw):
    cfg = hs.LlamoConfig(format=fmt, motion_hidden_size=hidden, motion_num_layers=layers, motion_num_heads=4,
                         motion_intermediate_size=2 * hidden, max_motion_frames=frames, motion_temporal_stride=stride,
                         use_video=video is not None, vision_config=video, num_video_frames=4,
                         video_pooling="mean", fusion_num_heads=4,
                         text_config=tiny_text_config(tok, hidden_size=hidden, layers=layers),
                         motion_token_id=tok.convert_tokens_to_ids("<motion>"),
                         video_token_id=tok.convert_tokens_to_ids("<video>"), **kw)
    return hs.LlamoForConditionalGeneration(cfg), hs.LlamoProcessor.from_config(cfg, tok, align_view=align_view)


def accuracy(scores: torch.Tensor, truth: list[int]) -> float:
    return float((scores.argmax(-1) == torch.tensor(truth)).float().mean())


def nucla_split():
    files = sorted((DATA / "nw_ucla" / "all_sqe").glob("*.json"))
    seqs = [hs.load_skeleton(f) for f in files]
    train = [s for s in seqs if s.meta["view"] in (1, 2)]
    test = [s for s in seqs if s.meta["view"] == 3]
    return train, test


def recognition_eval(model, proc, test, batch_size=64):
    model.eval()
    scores = score_candidate_labels(model, proc, test, REC_PROMPT, NUCLA, batch_size=batch_size)
    return accuracy(scores, [NUCLA.index(s.meta["label_name"]) for s in test])


# ---------------------------------------------------------------------- N-UCLA recognition (two stages)
def run_nucla(args):
    torch.manual_seed(args.seed)
    train, test = nucla_split()
    tok = build_tiny_tokenizer(extra_texts=NUCLA, extra_special_tokens=SPECIALS)
    model, proc = tiny_llamo(tok, "kinect_v1", hidden=args.hidden, frames=args.frames)
    labels = [s.meta["label_name"] for s in train]
    data = to_sft_dataset(build_examples(train, "recognition", labels=labels, seed=args.seed))
    out = tempfile.mkdtemp()
    t0 = time.time()
    model, _ = train_stage(model, proc, data, 1, out, max_steps=args.stage1_steps, per_device_train_batch_size=16,
                           learning_rate=1e-3, logging_steps=25)
    model, tr = train_stage(model, proc, data, 2, out, lora=False, max_steps=args.stage2_steps,
                            per_device_train_batch_size=16, learning_rate=args.lr, logging_steps=25)
    train_s = time.time() - t0
    losses = [h["loss"] for h in tr.state.log_history if "loss" in h]
    t0 = time.time()
    acc = recognition_eval(model, proc, test)
    return {"experiment": "nucla_cross_view", "train_clips": len(train), "test_clips": len(test),
            "stage1_steps": args.stage1_steps, "stage2_steps": args.stage2_steps, "top1_view3": round(acc, 4),
            "chance": 0.1, "stage2_loss_first_last": [round(losses[0], 3), round(losses[-1], 3)] if losses else None,
            "train_seconds": round(train_s), "eval_seconds": round(time.time() - t0)}


# ---------------------------------------------------------------------- native vs discrete tokens
class KMeansQuantizer:
    """Clips -> k-means codes: the mean normalised pose of every ``stride`` frames (observed joints),
    nearest of ``codebook`` (K, J * 3). One code per time step."""

    def __init__(self, codebook: np.ndarray, stride: int):
        self.codebook, self.stride = np.asarray(codebook, np.float32), int(stride)

    @property
    def num_codes(self) -> int:
        return len(self.codebook)

    def step_poses(self, pos: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """pos (T, J, 3), mask (T, J) -> (ceil(T / stride), J * 3)."""
        pos = np.where(mask[..., None], pos, 0.0)
        steps = []
        for s in range(0, len(pos), self.stride):
            w, m = pos[s:s + self.stride], mask[s:s + self.stride]
            steps.append(w.sum(0) / np.maximum(m.sum(0), 1)[..., None])
        return np.stack(steps).reshape(len(steps), -1)

    def nearest(self, x: np.ndarray) -> np.ndarray:
        return scipy.cluster.vq.vq(x.astype(np.float32), self.codebook, check_finite=False)[0]

    def __call__(self, clips: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        return [self.nearest(self.step_poses(p, m)) for p, m in clips]

    def reconstruct(self, pos: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Every frame replaced by its step's code (T, J, 3)."""
        codes = self.nearest(self.step_poses(pos, mask))
        return np.repeat(self.codebook[codes], self.stride, 0)[:len(pos)].reshape(pos.shape)


class VGMTQuantizer:
    """Clips -> codes of a skeleton-only VGMT, step-major: ceil(T / r) steps x G (joints or body parts).

    Clips are encoded alone or with clips of the same length only (GroupNorm statistics would see
    another clip's padding), so a clip's codes do not depend on its batch."""

    def __init__(self, model: hs.VGMTModel):
        self.model = model

    @property
    def num_codes(self) -> int:
        return self.model.config.num_codes

    def _groups(self, clips):
        by_len: dict[int, list[int]] = {}
        for i, (p, _) in enumerate(clips):
            by_len.setdefault(len(p), []).append(i)
        for idx in by_len.values():
            pos = torch.from_numpy(np.stack([np.where(clips[i][1][..., None], clips[i][0], 0.0) for i in idx]))
            yield idx, pos.float(), torch.from_numpy(np.stack([clips[i][1] for i in idx]))

    @torch.no_grad()
    def codes_grid(self, clips) -> list[np.ndarray]:
        """Codes (T', G) of each clip."""
        out: list = [None] * len(clips)
        for idx, pos, mask in self._groups(clips):
            codes = self.model.encode(pos, skeleton_mask=mask).numpy()
            for k, i in enumerate(idx):
                out[i] = codes[k]
        return out

    def __call__(self, clips: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        return [c.reshape(-1) for c in self.codes_grid(clips)]

    @torch.no_grad()
    def reconstruct(self, pos: np.ndarray, mask: np.ndarray) -> np.ndarray:
        codes = torch.from_numpy(self.codes_grid([(pos, mask)])[0][None])
        return self.model.decode(codes, num_frames=len(pos))[0].numpy()


class DiscreteMotionProcessor:
    """The package's skeleton protocol for a plain causal LM with motion as discrete tokens.

    Each clip is normalised exactly as LLaMo's processor does (``llamo_processor.prepare_motion``:
    resampling, centring, bone-length scale, view alignment), augmented when ``augment=`` is given
    (the SFT collator's training augmentation; clip ``i`` uses ``seed + i`` like LLaMo's processor),
    then quantised by ``quantizer`` (clips -> one 1-D code array per clip). ``<motion>`` in the text
    becomes the codes as ``<vq_k>`` tokens.
    """

    skeleton_token = "<motion>"
    placeholder_token_ids = ()

    def __init__(self, tokenizer, llamo_processor, quantizer, token: str = "<vq_{}>"):
        self.tokenizer, self.base, self.quantizer, self.token = tokenizer, llamo_processor, quantizer, token
        ids = tokenizer.convert_tokens_to_ids([token.format(k) for k in range(quantizer.num_codes)])
        if tokenizer.unk_token_id in ids:
            raise SkeletonInputError("tokenizer", f"the {quantizer.num_codes} code tokens {token.format('k')} "
                                                     "as special tokens", "missing ones")
        self._code_of_id = {tid: k for k, tid in enumerate(ids)}

    def prepare(self, skeletons, skeleton_format=None, augment=None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Normalised (and augmented) clips: positions (T, J, 3) and mask (T, J) each."""
        out = []
        for i, seq in enumerate(skeletons):
            aug = None
            if augment is not None:
                aug = {**augment, "seed": None if augment.get("seed") is None else int(augment["seed"]) + i}
            out.append(self.base.prepare_motion(seq, skeleton_format, i, aug))
        return out

    def codes(self, skeletons, skeleton_format=None, augment=None) -> list[np.ndarray]:
        return self.quantizer(self.prepare(skeletons, skeleton_format, augment))

    def token_text(self, codes) -> str:
        return "".join(self.token.format(int(k)) for k in codes)

    def codes_from_ids(self, input_ids) -> np.ndarray:
        """The codes spelled by the ``<vq_k>`` tokens among ``input_ids`` (other tokens skipped)."""
        ids = input_ids.tolist() if hasattr(input_ids, "tolist") else list(input_ids)
        return np.array([self._code_of_id[t] for t in ids if t in self._code_of_id], np.int64)

    def __call__(self, skeletons, text, return_tensors="pt", padding=True, skeleton_format=None, augment=None,
                 **kwargs):
        texts = [text] if isinstance(text, str) else list(text)
        if len(skeletons) != len(texts):
            raise SkeletonInputError("skeletons", f"one clip per text ({len(texts)})", len(skeletons))
        codes = self.codes(skeletons, skeleton_format, augment)
        expanded = []
        for c, t in zip(codes, texts):
            t = t if self.skeleton_token in t else f"{self.skeleton_token}\n{t}"
            expanded.append(t.replace(self.skeleton_token, self.token_text(c), 1))
        return self.tokenizer(expanded, return_tensors=return_tensors, padding=padding, **kwargs)


def tokenizer_clips(base, train, augment, copies: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The tokenizers' training set: every training clip normalised as the LLM arms see it, plus
    ``copies`` augmented draws of it (positions (T, J, 3), mask (T, J) each)."""
    clips = []
    for i, seq in enumerate(train):
        clips.append(base.prepare_motion(seq))
        for c in range(copies if augment else 0):
            clips.append(base.prepare_motion(seq, augment={**augment, "seed": seed + i * copies + c}))
    return clips


def pad_clips(clips):
    """Clips -> positions (N, T, J, 3) (0 where unobserved or padded) and mask (N, T, J), T the longest."""
    T = max(len(p) for p, _ in clips)
    J = clips[0][0].shape[1]
    pos, mask = np.zeros((len(clips), T, J, 3), np.float32), np.zeros((len(clips), T, J), bool)
    for i, (p, m) in enumerate(clips):
        pos[i, :len(p)], mask[i, :len(m)] = np.where(m[..., None], p, 0.0), m
    return pos, mask


class MaskedClips(torch.utils.data.Dataset):
    """VGMT training items: skeletons (T, J, 3), skeleton_mask (T, J), labels = skeletons."""

    def __init__(self, pos: np.ndarray, mask: np.ndarray):
        self.pos, self.mask = torch.from_numpy(pos), torch.from_numpy(mask)

    def __len__(self) -> int:
        return len(self.pos)

    def __getitem__(self, i: int) -> dict:
        return {"skeletons": self.pos[i], "skeleton_mask": self.mask[i], "labels": self.pos[i]}


def fit_vgmt(pos, mask, args) -> tuple[hs.VGMTModel, dict]:
    """A skeleton-only VGMT with one code per body part and 2 frames (the paper's x2 compression),
    trained with the package's Trainer recipe (AdamW, cosine, EMA codebook with dead-code reset)."""
    from transformers import set_seed

    from hf_skeleton.training.vgmt_recipe import vgmt_trainer, vgmt_training_args

    config = hs.VGMTConfig(format="kinect_v1", num_codes=args.codes, code_dim=args.vgmt_code_dim,
                           channels=[32, 64], norm_groups=16, temporal_downsample=2, use_vision=False,
                           token_grouping="part")
    set_seed(args.seed)
    model = hs.VGMTModel(config)
    targs = vgmt_training_args(tempfile.mkdtemp(), max_steps=args.vgmt_steps, batch_size=16,
                               learning_rate=args.vgmt_lr, seed=args.seed, use_cpu=True)
    trainer = vgmt_trainer(model, MaskedClips(pos, mask), targs)
    t0 = time.time()
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    model.eval()
    return model, {"train_seconds": round(time.time() - t0), "tokens_per_step": config.num_tokens_per_step,
                   "parts": config.part_names, "num_parameters": sum(p.numel() for p in model.parameters()),
                   "loss_first_last": [round(losses[0], 3), round(losses[-1], 3)] if losses else None}


def tokenizer_report(quantizer, clips, embeddings) -> dict:
    """Reconstruction error (mean over observed joints and frames, bone-length units) and codebook
    health of a tokenizer on normalised clips."""
    err, n = 0.0, 0
    for p, m in clips:
        d = np.linalg.norm(quantizer.reconstruct(p, m) - p, axis=-1)[m]
        err, n = err + float(d.sum()), n + int(d.size)
    codes = np.concatenate(quantizer(clips))
    health = codebook_health(codes, quantizer.num_codes, embeddings).to_dict()
    health.pop("cosine_histogram")
    return {"reconstruction_error_bone_units": round(err / n, 4), "tokens_per_clip": round(len(codes) / len(clips), 1),
            "codebook": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in health.items()
                         if k in ("active", "unused", "frequent", "underused", "perplexity", "normalized_perplexity",
                                  "num_tokens")}}


def train_token_arm(name, quantizer, data, test, args, augment) -> dict:
    """A plain causal LM reading ``<vq_k>`` tokens: the same SFT budget, collator and evaluation as the
    native arm."""
    from transformers import AutoModelForCausalLM
    from trl import SFTTrainer

    codes = [f"<vq_{k}>" for k in range(quantizer.num_codes)]
    tok = build_tiny_tokenizer(extra_texts=NUCLA, extra_special_tokens=SPECIALS + codes)
    _, base = tiny_llamo(tok, "kinect_v1", hidden=args.hidden, frames=args.frames, align_view=args.align_view)
    proc = DiscreteMotionProcessor(tok, base, quantizer)
    torch.manual_seed(args.seed)
    lm = AutoModelForCausalLM.from_config(tiny_text_config(tok, hidden_size=args.hidden, layers=2))
    ds, _ = data
    t0 = time.time()
    trainer = SFTTrainer(model=lm, args=stage_sft_config(tempfile.mkdtemp(), 2, max_steps=args.steps,
                                                         per_device_train_batch_size=16, learning_rate=args.lr,
                                                         logging_steps=25, seed=args.seed),
                         train_dataset=ds, processing_class=tok,
                         data_collator=SkeletonSFTCollator(proc, skeleton_format="kinect_v1", augment=augment,
                                                           seed=args.seed))
    trainer.train()
    train_s = time.time() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    lm.eval()
    t0 = time.time()
    scores = score_candidate_labels(lm, proc, test, REC_PROMPT, NUCLA, batch_size=64)
    return {f"{name}_top1": round(accuracy(scores, [NUCLA.index(s.meta["label_name"]) for s in test]), 4),
            f"{name}_train_seconds": round(train_s), f"{name}_eval_seconds": round(time.time() - t0),
            f"{name}_loss_first_last": [round(losses[0], 3), round(losses[-1], 3)] if losses else None}


def run_ablation(args):
    """Native LLaMo vs the same clips as k-means tokens vs VGMT tokens, one budget for all arms."""
    train, test = nucla_split()
    labels = [s.meta["label_name"] for s in train]
    augment = None if args.augment_angle == 0 and args.augment_tilt == 0 else {
        "max_angle": args.augment_angle, "max_tilt": args.augment_tilt, "scale_range": (0.9, 1.1)}
    arms = set(args.arms)
    results = {"experiment": "native_vs_tokens", "steps": args.steps, "batch": 16, "lr": args.lr,
               "frames": args.frames, "align_view": args.align_view, "augment": augment, "codebook": args.codes}
    data = to_sft_dataset(build_examples(train, "recognition", labels=labels, seed=args.seed))
    tok = build_tiny_tokenizer(extra_texts=NUCLA, extra_special_tokens=SPECIALS)
    if "native" in arms:  # LLaMo: continuous motion encoder, one full-tuning stage
        torch.manual_seed(args.seed)
        model, proc = tiny_llamo(tok, "kinect_v1", hidden=args.hidden, frames=args.frames, align_view=args.align_view)
        t0 = time.time()
        model, tr = train_stage(model, proc, data, 2, tempfile.mkdtemp(), lora=False, max_steps=args.steps,
                                per_device_train_batch_size=16, learning_rate=args.lr, logging_steps=25,
                                seed=args.seed, collator_kwargs={"augment": augment, "seed": args.seed})
        results["native_train_seconds"] = round(time.time() - t0)
        losses = [h["loss"] for h in tr.state.log_history if "loss" in h]
        results["native_loss_first_last"] = [round(losses[0], 3), round(losses[-1], 3)] if losses else None
        t0 = time.time()
        results["native_top1"] = round(recognition_eval(model, proc, test), 4)
        results["native_eval_seconds"] = round(time.time() - t0)
        results["native_tokens_per_clip"] = -(-args.frames // proc.motion_temporal_stride)
    if not arms & {"kmeans", "vgmt"}:
        return results
    # both tokenizers learn from the same normalised (and augmented) training clips
    _, base = tiny_llamo(tok, "kinect_v1", hidden=args.hidden, frames=args.frames, align_view=args.align_view)
    clips = tokenizer_clips(base, train, augment, args.tokenizer_copies, args.seed)
    view3 = [base.prepare_motion(s) for s in test]
    results["tokenizer_training_clips"] = len(clips)
    if "kmeans" in arms:
        t0 = time.time()
        stride = base.motion_temporal_stride
        step = KMeansQuantizer(np.zeros((1, clips[0][0].shape[1] * 3)), stride)
        poses = np.concatenate([step.step_poses(p, m) for p, m in clips])
        codebook, _ = scipy.cluster.vq.kmeans2(poses, args.codes, iter=30, minit="++", rng=args.seed)
        quant = KMeansQuantizer(codebook, stride)
        results["kmeans_tokenizer"] = {"fit_seconds": round(time.time() - t0, 1), "frames_per_code": stride,
                                       **tokenizer_report(quant, view3, codebook)}
        results.update(train_token_arm("kmeans", quant, data, test, args, augment))
    if "vgmt" in arms:
        model, log = fit_vgmt(*pad_clips(clips), args)
        quant = VGMTQuantizer(model)
        K = model.config.num_codes
        results["vgmt_tokenizer"] = {**log, "steps": args.vgmt_steps, "frames_per_code": 2,
                                     **tokenizer_report(quant, view3, model.codebook.lookup(torch.arange(K)).numpy())}
        results.update(train_token_arm("vgmt", quant, data, test, args, augment))
    return results


# ---------------------------------------------------------------------- CMU captioning
def cmu_clips(window=64, fps=30):
    """(trial id, caption, <= 8 windows of ``window`` frames at ``fps``) per CMU trial, as H36M-17 joints
    converted by joint name (:func:`~hf_skeleton.training.superman_tasks.cmu_to_h36m`, metres)."""
    with open(DATA / "cmu_mocap_bvh" / "cmu_motion_labels.csv", newline="") as fh:
        labels = {r["motion_id"]: r for r in csv.DictReader(fh)}
    trials = []
    for f in sorted((DATA / "cmu_mocap_bvh").glob("*.bvh")):
        seq = hs.load_skeleton(f)
        h36m = cmu_to_h36m(seq)
        step = max(1, round(seq.fps / fps))
        pos = h36m.positions[::step, 0]
        starts = np.unique(np.linspace(0, max(0, len(pos) - window), 8).astype(int))  # <= 8 windows per trial
        windows = [hs.SkeletonSequence(pos[s:s + window], format=h36m.format, fps=fps) for s in starts]
        trials.append((f.stem, labels[f.stem]["long_label"], windows))
    return trials


def run_cmu(args):
    import sacrebleu
    from rouge_score import rouge_scorer

    torch.manual_seed(args.seed)
    trials = cmu_clips()
    test_ids = {t[0] for i, t in enumerate(trials) if i % 4 == 3}
    train = [(w, cap) for tid, cap, ws in trials if tid not in test_ids for w in ws]
    test = [(ws[len(ws) // 2], cap) for tid, cap, ws in trials if tid in test_ids]  # middle window per test trial
    caps = [c for _, c in train]
    data = to_sft_dataset(build_examples([w for w, _ in train], "captioning", captions=caps, seed=args.seed))
    out = tempfile.mkdtemp()
    t0 = time.time()
    if args.text_model:  # the recipe's pretrained LLaMo: SmolLM2 + LoRA, encoder warmed up on the captions
        config = LlamoRecipeConfig(text_model=args.text_model, hidden=args.cmu_hidden, frames=args.frames)
        model, proc = build_llamo(config, format="h36m17")
        tok = proc.tokenizer
        warm_up_motion_encoder(model.model.motion_encoder, proc, [w for w, _ in train], caps,
                               epochs=config.encoder_warmup_epochs, lr=config.encoder_warmup_lr, seed=args.seed)
        model, _ = train_stage(model, proc, data, 1, out, max_steps=args.stage1_steps, per_device_train_batch_size=16,
                               learning_rate=config.stage1_lr, logging_steps=25, train_motion_encoder=False)
        model, _ = train_stage(model, proc, data, 2, out, lora=True, max_steps=args.stage2_steps,
                               per_device_train_batch_size=16, learning_rate=config.lr, logging_steps=25)
    else:  # a tiny LLaMo trained from scratch
        tok = build_tiny_tokenizer(extra_texts=caps, extra_special_tokens=SPECIALS)
        model, proc = tiny_llamo(tok, "h36m17", hidden=args.hidden, frames=args.frames, stride=4)
        model, _ = train_stage(model, proc, data, 1, out, max_steps=args.stage1_steps, per_device_train_batch_size=16,
                               learning_rate=1e-3, logging_steps=25)
        model, _ = train_stage(model, proc, data, 2, out, lora=False, max_steps=args.stage2_steps,
                               per_device_train_batch_size=16, learning_rate=args.lr, logging_steps=25)
    train_s = time.time() - t0
    model.eval()
    prompt = chat_prompt(proc, INSTRUCTION_TEMPLATES["captioning"][0])
    tok.padding_side = "left"  # batched generation
    enc = proc(skeletons=[w for w, _ in test], text=[prompt] * len(test), padding=True)
    with torch.no_grad():
        gen = model.generate(**enc, max_new_tokens=16, do_sample=False)
    hyps = [t.strip() for t in tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)]
    refs = [c for _, c in test]
    trial_caps = [cap for tid, cap, _ in trials if tid not in test_ids]
    majority = max(set(trial_caps), key=trial_caps.count)  # most frequent caption over training trials
    scorer = rouge_scorer.RougeScorer(["rougeL"])

    def metrics(h):
        # captions are 1-4 words, so corpus BLEU-4 has almost no 4-grams: also report the mean
        # sentence BLEU-4 with effective order (sacrebleu's option for short segments)
        sent = [sacrebleu.sentence_bleu(x, [r], smooth_method="exp").score for r, x in zip(refs, h)]
        return {"bleu4": round(sacrebleu.corpus_bleu(h, [refs]).score, 2),
                "sentence_bleu4_effective_order": round(float(np.mean(sent)), 2),
                "rougeL_f1": round(100 * float(np.mean([scorer.score(r, x)["rougeL"].fmeasure
                                                         for r, x in zip(refs, h)])), 2),
                "exact_match": round(float(np.mean([r == x for r, x in zip(refs, h)])), 3)}

    return {"experiment": "cmu_captioning", "text_model": args.text_model or "tiny, from scratch",
            "train_windows": len(train), "train_trials": len(trials) - len(test_ids),
            "test_trials": len(test), "llamo": metrics(hyps), "most_frequent_caption": metrics([majority] * len(refs)),
            "baseline_caption": majority, "pairs": list(zip(refs, hyps)), "train_seconds": round(train_s)}


# ---------------------------------------------------------------------- Pose2Sim with / without video
def run_pose2sim(args):
    from transformers import CLIPVisionConfig

    trc = DATA / "pose2sim_demo" / "keypoints_2d_3d" / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc"
    motion = hs.load_skeleton(trc)
    cams = ["one", "two", "three", "four"]
    videos = [hs.load_video(DATA / "pose2sim_demo" / "videos" / f"cam0{i + 1}.mp4", size=(64, 64)) for i in range(4)]
    win = 16

    def split(starts):
        out = []
        for c in range(4):
            for s in starts:
                out.append((motion.copy(positions=motion.positions[s:s + win], mask=motion.mask[s:s + win]),
                            videos[c][s:s + win], f"camera {cams[c]}"))
        return out

    train, test = split(range(0, 100 - win - 40 + 1, 2)), split(range(64, 100 - win + 1, 4))
    q = "Which camera recorded this clip?"
    res = {"experiment": "pose2sim_video_ablation", "train_examples": len(train), "test_examples": len(test),
           "chance": 0.25}
    for use_video in (False, True):
        torch.manual_seed(args.seed)
        tok = build_tiny_tokenizer(extra_texts=[f"camera {c}" for c in cams], extra_special_tokens=SPECIALS)
        vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                  image_size=56, patch_size=14) if use_video else None
        model, proc = tiny_llamo(tok, motion.format, hidden=args.hidden, frames=win, stride=4, video=vision)
        ex = [{"skeleton": m, "prompt": q, "answer": a, **({"video": v} if use_video else {})} for m, v, a in train]
        t0 = time.time()
        out = tempfile.mkdtemp()
        data = to_sft_dataset(ex)
        model, _ = train_stage(model, proc, data, 1, out, max_steps=args.stage1_steps // 2,
                               per_device_train_batch_size=16, learning_rate=1e-3, logging_steps=25)
        model, _ = train_stage(model, proc, data, 2, out, lora=False, max_steps=args.stage2_steps // 2,
                               per_device_train_batch_size=16, learning_rate=args.lr, logging_steps=25)
        model.eval()
        scores = score_candidate_labels(model, proc, [m for m, _, _ in test], q, [f"camera {c}" for c in cams],
                                        videos=[v for _, v, _ in test] if use_video else None, batch_size=32)
        truth = [cams.index(a.split()[-1]) for _, _, a in test]
        res["with_video" if use_video else "motion_only"] = {"camera_top1": round(accuracy(scores, truth), 4),
                                                             "seconds": round(time.time() - t0)}
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", choices=["nucla", "ablation", "cmu", "pose2sim"])
    p.add_argument("--stage1-steps", type=int, default=60)
    p.add_argument("--stage2-steps", type=int, default=300)
    p.add_argument("--frames", type=int, default=16, help="max motion frames (clips are resampled to this)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=64)
    ab = p.add_argument_group("ablation (native vs discrete tokens)")
    ab.add_argument("--arms", nargs="+", choices=["native", "kmeans", "vgmt"], default=["native", "kmeans", "vgmt"])
    ab.add_argument("--steps", type=int, default=1500, help="SFT steps of every arm (batch 16, --lr)")
    ab.add_argument("--codes", type=int, default=128, help="codebook size of both tokenizers")
    ab.add_argument("--align-view", default="upright", choices=["none", "facing", "upright"])
    ab.add_argument("--augment-angle", type=float, default=30.0, help="training yaw augmentation (degrees)")
    ab.add_argument("--augment-tilt", type=float, default=15.0, help="training tilt augmentation (degrees)")
    ab.add_argument("--tokenizer-copies", type=int, default=3,
                    help="augmented draws of each training clip added to the tokenizers' training set")
    ab.add_argument("--vgmt-steps", type=int, default=3000)
    ab.add_argument("--vgmt-lr", type=float, default=1e-3)
    ab.add_argument("--vgmt-code-dim", type=int, default=128, help="VGMT code width (skeleton-only: half is used)")
    p.add_argument("--text-model", default=None, help="cmu: the recipe's pretrained LLaMo on this LLM (a backbone "
                   "name such as smollm2-135m-instruct) instead of the tiny one trained from scratch")
    p.add_argument("--cmu-hidden", type=int, default=128, help="cmu with --text-model: motion encoder width")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    run = {"nucla": run_nucla, "ablation": run_ablation, "cmu": run_cmu, "pose2sim": run_pose2sim}[args.experiment]
    result = run(args)
    result["args"] = vars(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
