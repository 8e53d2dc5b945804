"""LLaMo evidence on real data (CPU, tiny models trained from scratch).

    python benchmarks/llamo_evidence.py nucla     # recognition: train N-UCLA views 1-2, top-1 on view 3
    python benchmarks/llamo_evidence.py ablation  # native motion vs k-means motion tokens (N-UCLA)
    python benchmarks/llamo_evidence.py cmu       # captioning on CMU clips: BLEU-4 / ROUGE-L vs baseline
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
import torch

import hf_skeleton as hs
from hf_skeleton.evaluation.recognition import score_candidate_labels
from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config
from hf_skeleton.training.collators import SkeletonSFTCollator, chat_prompt
from hf_skeleton.training.llamo_stages import (INSTRUCTION_TEMPLATES, build_examples, stage_sft_config, to_sft_dataset,
                                               train_stage)

DATA = Path(os.environ.get("HF_SKELETON_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
NUCLA = ["pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down", "stand up",
         "donning", "doffing", "throw", "carry"]
REC_PROMPT = INSTRUCTION_TEMPLATES["recognition"][0]
SPECIALS = ["<motion>", "<video>"]


def tiny_llamo(tok, fmt, *, hidden=64, layers=2, frames=32, stride=4, video=None, **kw):
    cfg = hs.LlamoConfig(format=fmt, motion_hidden_size=hidden, motion_num_layers=layers, motion_num_heads=4,
                         motion_intermediate_size=2 * hidden, max_motion_frames=frames, motion_temporal_stride=stride,
                         use_video=video is not None, vision_config=video, num_video_frames=4,
                         video_pooling="mean", fusion_num_heads=4,
                         text_config=tiny_text_config(tok, hidden_size=hidden, layers=layers),
                         motion_token_id=tok.convert_tokens_to_ids("<motion>"),
                         video_token_id=tok.convert_tokens_to_ids("<video>"), **kw)
    return hs.LlamoForConditionalGeneration(cfg), hs.LlamoProcessor.from_config(cfg, tok, align_view=True)


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
def kmeans(x: np.ndarray, k: int, iters: int = 30, seed: int = 0) -> np.ndarray:
    """Plain Lloyd k-means with k-means++ seeding (numpy)."""
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d = np.min(((x[:, None] - np.stack(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(x[rng.choice(len(x), p=d / d.sum())])
    c = np.stack(centres)
    for _ in range(iters):
        assign = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        for j in range(k):
            if (assign == j).any():
                c[j] = x[assign == j].mean(0)
    return c


class KMeansMotionProcessor:
    """The package's skeleton protocol for a plain causal LM: ``<motion>`` becomes one codebook token
    ``<mot_k>`` per time step (the mean normalised pose of ``stride`` frames, quantised)."""

    def __init__(self, tokenizer, llamo_processor, codebook: np.ndarray):
        self.tokenizer, self.base, self.codebook = tokenizer, llamo_processor, codebook
        self.skeleton_token, self.placeholder_token_ids = "<motion>", ()

    def step_poses(self, seq) -> np.ndarray:
        pos, mask = self.base.prepare_motion(seq)
        stride = self.base.motion_temporal_stride
        steps = []
        for s in range(0, len(pos), stride):
            w, m = pos[s:s + stride], mask[s:s + stride]
            steps.append((w * m[..., None]).sum(0) / np.maximum(m.sum(0), 1)[..., None])
        return np.stack(steps).reshape(len(steps), -1)

    def codes(self, seq) -> np.ndarray:
        x = self.step_poses(seq)
        return ((x[:, None] - self.codebook[None]) ** 2).sum(-1).argmin(1)

    def __call__(self, skeletons, text, return_tensors="pt", padding=True, skeleton_format=None, **kw):
        texts = []
        for seq, t in zip(skeletons, text):
            if not isinstance(seq, hs.SkeletonSequence):
                seq = hs.SkeletonSequence(np.asarray(seq), format=skeleton_format)
            tokens = "".join(f"<mot_{k}>" for k in self.codes(seq))
            t = t if "<motion>" in t else "<motion>\n" + t
            texts.append(t.replace("<motion>", tokens, 1))
        return self.tokenizer(texts, return_tensors=return_tensors, padding=padding)


def run_ablation(args):
    from transformers import AutoModelForCausalLM
    from trl import SFTTrainer

    torch.manual_seed(args.seed)
    train, test = nucla_split()
    labels = [s.meta["label_name"] for s in train]
    results = {"experiment": "native_vs_tokens", "steps": args.stage2_steps, "codebook": args.codes}
    # native: LLaMo, one full-tuning stage
    tok = build_tiny_tokenizer(extra_texts=NUCLA, extra_special_tokens=SPECIALS)
    model, proc = tiny_llamo(tok, "kinect_v1", hidden=args.hidden, frames=args.frames)
    data = to_sft_dataset(build_examples(train, "recognition", labels=labels, seed=args.seed))
    t0 = time.time()
    model, _ = train_stage(model, proc, data, 2, tempfile.mkdtemp(), lora=False, max_steps=args.stage2_steps,
                           per_device_train_batch_size=16, learning_rate=args.lr, logging_steps=25)
    results["native_top1"] = round(recognition_eval(model, proc, test), 4)
    results["native_seconds"] = round(time.time() - t0)
    # discrete: the same clips quantised by a k-means codebook into <mot_k> tokens of a plain LM
    codes = [f"<mot_{k}>" for k in range(args.codes)]
    tok2 = build_tiny_tokenizer(extra_texts=NUCLA, extra_special_tokens=SPECIALS + codes)
    _, proc2 = tiny_llamo(tok2, "kinect_v1", hidden=args.hidden, frames=args.frames)
    tmp = KMeansMotionProcessor(tok2, proc2, np.zeros((1, 60)))
    poses = np.concatenate([tmp.step_poses(s) for s in train])
    kproc = KMeansMotionProcessor(tok2, proc2, kmeans(poses, args.codes, seed=args.seed))
    quant_err = float(np.sqrt(((poses - kproc.codebook[((poses[:, None] - kproc.codebook[None]) ** 2)
                                                       .sum(-1).argmin(1)]) ** 2).reshape(len(poses), 20, 3)
                              .sum(-1)).mean())
    torch.manual_seed(args.seed)
    lm = AutoModelForCausalLM.from_config(tiny_text_config(tok2, hidden_size=args.hidden, layers=2))
    ds, fmt = to_sft_dataset(build_examples(train, "recognition", labels=labels, seed=args.seed))
    t0 = time.time()
    trainer = SFTTrainer(model=lm, args=stage_sft_config(tempfile.mkdtemp(), 2, max_steps=args.stage2_steps,
                                                         per_device_train_batch_size=16, learning_rate=args.lr,
                                                         logging_steps=25),
                         train_dataset=ds, data_collator=SkeletonSFTCollator(kproc, skeleton_format="kinect_v1"),
                         processing_class=tok2)
    trainer.train()
    lm.eval()
    scores = score_candidate_labels(lm, kproc, test, REC_PROMPT, NUCLA, batch_size=64)
    results["tokens_top1"] = round(accuracy(scores, [NUCLA.index(s.meta["label_name"]) for s in test]), 4)
    results["tokens_seconds"] = round(time.time() - t0)
    results["tokens_mean_joint_quantisation_error_bone_units"] = round(quant_err, 4)
    return results


# ---------------------------------------------------------------------- CMU captioning
# The two CMU BVH hierarchies (Daz-style 43 joints, ASF-style 31 joints) mapped onto H36M-17 by name.
CMU_TO_H36M = {
    43: dict(pelvis="hip", right_hip="rThigh", right_knee="rShin", right_ankle="rFoot", left_hip="lThigh",
             left_knee="lShin", left_ankle="lFoot", spine="abdomen", thorax="chest", neck="neck", head="head",
             left_shoulder="lShldr", left_elbow="lForeArm", left_wrist="lHand", right_shoulder="rShldr",
             right_elbow="rForeArm", right_wrist="rHand"),
    31: dict(pelvis="hip", right_hip="rfemur", right_knee="rtibia", right_ankle="rfoot", left_hip="lfemur",
             left_knee="ltibia", left_ankle="lfoot", spine="lowerback", thorax="thorax", neck="lowerneck",
             head="head", left_shoulder="lhumerus", left_elbow="lradius", left_wrist="lwrist",
             right_shoulder="rhumerus", right_elbow="rradius", right_wrist="rwrist"),
}


def cmu_clips(window=64, fps=30):
    labels = {r["motion_id"]: r for r in csv.DictReader(open(DATA / "cmu_mocap_bvh" / "cmu_motion_labels.csv"))}
    h36m = hs.get_format("h36m17")
    trials = []
    for f in sorted((DATA / "cmu_mocap_bvh").glob("*.bvh")):
        seq = hs.load_skeleton(f)
        names = CMU_TO_H36M[seq.num_joints]
        idx = [seq.format.joints.index(names[j]) for j in h36m.joints]
        step = max(1, round(seq.fps / fps))
        pos = seq.positions[::step, 0][:, idx]
        starts = np.unique(np.linspace(0, max(0, len(pos) - window), 8).astype(int))  # <= 8 windows per trial
        windows = [hs.SkeletonSequence(pos[s:s + window], format=h36m, fps=fps) for s in starts]
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
    tok = build_tiny_tokenizer(extra_texts=caps, extra_special_tokens=SPECIALS)
    model, proc = tiny_llamo(tok, "h36m17", hidden=args.hidden, frames=args.frames, stride=4)
    data = to_sft_dataset(build_examples([w for w, _ in train], "captioning", captions=caps, seed=args.seed))
    out = tempfile.mkdtemp()
    t0 = time.time()
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

    return {"experiment": "cmu_captioning", "train_windows": len(train), "train_trials": len(trials) - len(test_ids),
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
    p.add_argument("--codes", type=int, default=128)
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
