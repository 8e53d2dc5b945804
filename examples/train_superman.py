"""Train a small unified Superman on real CMU motion capture and score it strictly.

1. CMU BVH trials -> H36M-17 joints in metres at ``--fps``; whole trials held out for testing.
2. A small skeleton-only VGMT is trained on 16-frame windows of the training trials.
3. Superman (a tiny Qwen2.5-VL on the VGMT's ``<skel_k>`` tokens) is trained on the task mixture
   (SkelPred + MIB), and, at the same budget (steps x batch), on each task alone.
4. Prediction (MPJPE per horizon, 80/160/320/400 ms) and in-betweening (MPJPE on the missing middle
   half) against the raw joints and against the tokenised ground truth, beside the zero-velocity and
   linear-interpolation baselines. Decoding is free (strict parsing: a failure counts, and is scored
   with the baseline's output) and template-constrained.

    OMP_NUM_THREADS=2 python examples/train_superman.py --out runs/superman
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import hf_skeleton as hs
from hf_skeleton.evaluation.motion_metrics import (
    horizon_frames,
    inbetween_error,
    linear_interpolation,
    prediction_errors,
    zero_velocity_prediction,
)
from hf_skeleton.models.superman.modeling_superman import tiny_superman
from hf_skeleton.models.vgmt import VGMTConfig, VGMTModel, normalize_motion
from hf_skeleton.pipelines.skeleton_generation import MotionTemplateConstraint
from hf_skeleton.training.superman_tasks import (
    SupermanTaskBuilder,
    build_superman_trainer,
    cmu_to_h36m,
    superman_sft_config,
)


def load_cmu(cmu_dir: Path, fps: float) -> dict[str, np.ndarray]:
    """Every trial as (T, 17, 3) metres at ``fps``."""
    out = {}
    for path in sorted(cmu_dir.glob("*.bvh")):
        seq = cmu_to_h36m(hs.load_skeleton(path))
        seq = seq.resample(max(2, round(seq.num_frames * fps / seq.fps)))
        out[path.stem] = seq.positions[:, 0]
    return out


def windows(trials: dict[str, np.ndarray], length: int, stride: int) -> list[np.ndarray]:
    return [m[s : s + length] for m in trials.values() for s in range(0, len(m) - length + 1, stride)]


def train_vgmt(train: list[np.ndarray], steps: int, seed: int = 0) -> VGMTModel:
    torch.manual_seed(seed)
    cfg = VGMTConfig(
        format="h36m17",
        num_codes=256,
        code_dim=128,
        channels=[32, 64],
        dilations=[1, 3],
        norm_groups=8,
        use_vision=False,
        reset_every=20,
    )
    model = VGMTModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data = torch.from_numpy(np.stack(train))
    rng = np.random.default_rng(seed)
    model.train()
    for step in range(steps):
        batch, _, _ = normalize_motion(data[rng.integers(0, len(data), 32)])
        loss = model(skeletons=batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"  vgmt step {step}: loss {loss.item():.4f}", flush=True)
    return model.eval()


def vgmt_error_mm(vgmt: VGMTModel, clips: list[np.ndarray]) -> float:
    x = torch.from_numpy(np.stack(clips))
    n, c, s = normalize_motion(x)
    with torch.no_grad():
        rec = vgmt.decode(vgmt.encode(n), num_frames=x.shape[1]) * s + c
    return float((rec - x).norm(dim=-1).mean()) * 1000


def generate(model, proc, ex, constrained: bool) -> tuple[np.ndarray | None, str | None]:
    enc = proc(text=[ex["prompt"]])
    plen = enc["input_ids"].shape[1]
    constraint = MotionTemplateConstraint(proc, ex["num_steps"], plen)
    kwargs = {"max_new_tokens": len(constraint) + (0 if constrained else 8), "do_sample": False}
    if constrained:
        kwargs["prefix_allowed_tokens_fn"] = constraint
    with torch.no_grad():
        out = model.generate(**enc, **kwargs)
    res = proc.try_parse_motion(proc.decode(out[0, plen:], skip_special_tokens=True), ex["num_steps"])
    if not res.ok:
        return None, res.error.reason
    motion = model.codes_to_motion(res.codes[None], num_frames=ex["num_frames"])[0]
    return (motion * ex["scale"] + ex["centre"]).numpy(), None


def evaluate_predict(model, proc, pred_tests, fps: float, constrained: bool) -> dict:
    b = SupermanTaskBuilder(model, proc)
    hz = list(horizon_frames(fps).keys())
    res = {"predict": {}}
    preds, strict, tok_preds, gts, toks, fails = [], [], [], [], [], []
    for w in pred_tests:
        hist, fut = w[: len(w) // 2], w[len(w) // 2 :]
        ex = b.predict(hist, fut)
        tok_gt = (
            model.codes_to_motion(ex["target_codes"][None], num_frames=len(fut))[0] * ex["scale"]
            + ex["centre"]
        ).numpy()
        out, reason = generate(model, proc, ex, constrained)
        fails.append(reason)
        zv = zero_velocity_prediction(hist, len(fut))
        strict.append(zv if out is None else out)
        if out is not None:
            preds.append(out)
            tok_preds.append(tok_gt)
            gts.append(fut)
        toks.append((tok_gt, fut))
    gt_all = np.stack([w[len(w) // 2 :] for w in pred_tests])
    res["predict"]["parse_failure_rate"] = float(np.mean([f is not None for f in fails]))
    res["predict"]["failure_reasons"] = sorted({f for f in fails if f})
    res["predict"]["strict_vs_raw_mm"] = _mm(prediction_errors(np.stack(strict), gt_all, fps))
    if preds:
        res["predict"]["parsed_vs_raw_mm"] = _mm(prediction_errors(np.stack(preds), np.stack(gts), fps))
        res["predict"]["parsed_vs_tokenised_gt_mm"] = _mm(
            prediction_errors(np.stack(preds), np.stack(tok_preds), fps)
        )
    res["predict"]["zero_velocity_mm"] = _mm(
        prediction_errors(
            np.stack([zero_velocity_prediction(w[: len(w) // 2], len(w) // 2) for w in pred_tests]),
            gt_all,
            fps,
        )
    )
    res["predict"]["tokeniser_floor_mm"] = _mm(prediction_errors(np.stack([t for t, _ in toks]), gt_all, fps))
    res["predict"]["horizons_ms"] = hz
    return res["predict"]


def evaluate_inbetween(model, proc, mib_tests, constrained: bool) -> dict:
    b = SupermanTaskBuilder(model, proc)
    res = {"inbetween": {}}
    strict, parsed, parsed_tok, li_all, fails, floor = [], [], [], [], [], []
    for clip in mib_tests:
        ex = b.inbetween(clip)
        k = ex["keyframes"][0]
        missing = np.zeros(len(clip), bool)
        missing[k:-k] = True
        li = linear_interpolation(clip, missing)
        tok_gt = (
            model.codes_to_motion(ex["target_codes"][None], num_frames=len(clip))[0] * ex["scale"]
            + ex["centre"]
        ).numpy()
        out, reason = generate(model, proc, ex, constrained)
        fails.append(reason)
        strict.append(inbetween_error(li if out is None else out, clip, missing))
        li_all.append(inbetween_error(li, clip, missing))
        floor.append(inbetween_error(tok_gt, clip, missing))
        if out is not None:
            parsed.append(inbetween_error(out, clip, missing))
            parsed_tok.append(inbetween_error(out, tok_gt, missing))
    r = res["inbetween"]
    r["parse_failure_rate"] = float(np.mean([f is not None for f in fails]))
    r["failure_reasons"] = sorted({f for f in fails if f})
    r["strict_vs_raw_mm"] = round(float(np.mean(strict)) * 1000, 1)
    if parsed:
        r["parsed_vs_raw_mm"] = round(float(np.mean(parsed)) * 1000, 1)
        r["parsed_vs_tokenised_gt_mm"] = round(float(np.mean(parsed_tok)) * 1000, 1)
    r["linear_interpolation_mm"] = round(float(np.mean(li_all)) * 1000, 1)
    r["tokeniser_floor_mm"] = round(float(np.mean(floor)) * 1000, 1)
    return r


def _mm(errors: dict) -> dict:
    return {int(k): round(v * 1000, 1) for k, v in errors.items()}


def build_examples(vgmt, train_pred, train_mib, hidden):
    """Task texts, built once: every model trained below shares the tokenizer and the VGMT."""
    model, proc = tiny_superman(vgmt.config, hidden_size=hidden, layers=2)
    model.vgmt.load_state_dict(vgmt.state_dict())
    b = SupermanTaskBuilder(model, proc)
    return {
        "predict": [b.predict(w[: len(w) // 2], w[len(w) // 2 :]) for w in train_pred],
        "inbetween": [b.inbetween(c) for c in train_mib],
    }


def train_superman(vgmt, tasks, examples, steps, batch, hidden, lr, seed, out_dir):
    torch.manual_seed(seed)
    model, proc = tiny_superman(vgmt.config, hidden_size=hidden, layers=2)
    model.vgmt.load_state_dict(vgmt.state_dict())
    rows = [ex for t in tasks for ex in examples[t]]
    rng = np.random.default_rng(seed)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    args = superman_sft_config(
        str(out_dir),
        max_steps=steps,
        per_device_train_batch_size=batch,
        learning_rate=lr,
        logging_steps=max(1, steps // 10),
        disable_tqdm=True,
        seed=seed,
    )
    trainer = build_superman_trainer(model, proc, rows, args)
    t0 = time.time()
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(
        f"  {'+'.join(tasks)}: {len(rows)} examples, {steps} steps in {time.time() - t0:.0f}s, "
        f"loss {losses[0]:.3f} -> {losses[-1]:.3f}",
        flush=True,
    )
    return model.eval(), proc, losses


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "cmu_mocap_bvh")
    )
    ap.add_argument("--out", default="runs/superman")
    ap.add_argument("--fps", type=float, default=20.0)
    ap.add_argument("--clip", type=int, default=8, help="frames of history = future = in-betweening clip")
    ap.add_argument("--vgmt-steps", type=int, default=300)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--eval", type=int, default=10, help="test windows per task")
    ap.add_argument("--max-train", type=int, default=400, help="training windows per task")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    trials = load_cmu(Path(args.data), args.fps)
    names = sorted(trials)
    test_names = set(names[::5])  # every fifth trial held out whole
    train = {n: m for n, m in trials.items() if n not in test_names}
    test = {n: m for n, m in trials.items() if n in test_names}
    T = args.clip
    rng = np.random.default_rng(args.seed)
    pick = lambda ws, n: [ws[i] for i in sorted(rng.choice(len(ws), min(n, len(ws)), replace=False))]
    pred_test = pick(windows(test, 2 * T, T), args.eval)
    mib_test = pick(windows(test, T, T), args.eval)
    print(f"{len(train)} train / {len(test)} test trials at {args.fps} fps", flush=True)

    t0 = time.time()
    vgmt = train_vgmt(windows(train, T, 4), args.vgmt_steps, args.seed)
    results = {
        "setup": vars(args),
        "vgmt": {
            "train_s": round(time.time() - t0),
            "heldout_recon_mm": round(vgmt_error_mm(vgmt, windows(test, T, T)), 1),
        },
    }
    print("VGMT held-out reconstruction (mm):", results["vgmt"]["heldout_recon_mm"], flush=True)

    train_pred = pick(windows(train, 2 * T, 4), args.max_train)
    train_mib = pick(windows(train, T, 4), args.max_train)
    t0 = time.time()
    examples = build_examples(vgmt, train_pred, train_mib, args.hidden)
    print(f"task examples built in {time.time() - t0:.0f}s", flush=True)
    for tasks in (("predict", "inbetween"), ("predict",), ("inbetween",)):
        name = "+".join(tasks)
        model, proc, losses = train_superman(
            vgmt, tasks, examples, args.steps, args.batch, args.hidden, args.lr, args.seed, out / name
        )
        results[name] = {"loss_first": round(losses[0], 3), "loss_last": round(losses[-1], 3)}
        for constrained in (False, True):
            t0 = time.time()
            ev = {}
            if "predict" in tasks:
                ev["predict"] = evaluate_predict(model, proc, pred_test, args.fps, constrained)
            if "inbetween" in tasks:
                ev["inbetween"] = evaluate_inbetween(model, proc, mib_test, constrained)
            results[name]["constrained" if constrained else "free"] = ev
            print(
                f"  {name} ({'constrained' if constrained else 'free'} decoding, {time.time() - t0:.0f}s):",
                json.dumps(ev),
                flush=True,
            )
        if tasks == ("predict", "inbetween"):
            model.save_pretrained(out / "unified")
            proc.save_pretrained(out / "unified")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
