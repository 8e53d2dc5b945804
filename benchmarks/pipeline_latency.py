"""Latency of one clip through pipeline("skeleton-understanding") with an embedded model (default: the default).

    OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 python benchmarks/pipeline_latency.py --repeats 20 [--model skeleton-llm-nucla]
    OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 python benchmarks/pipeline_latency.py --generation --repeats 5

``--generation``: pipeline("skeleton-generation") with the embedded default (superman-cmu) on a held-out CMU
trial at 20 fps instead: 8 frames predicted from 8, and the middle half of an 8-frame clip in-betweened
(template-constrained greedy decoding, the pipeline's default), then the prediction's decoding alone
through ``generate`` (a forward per token) and through ``constrained_generate`` (a forward per code slot).

Times recognition over the 10 N-UCLA actions and a generated description for a real N-UCLA clip
(file already read; the reader's time is in the readers section), median of the repeats after one
warm-up call, plus the one-off pipeline load time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from transformers import pipeline

import hf_skeleton as hs
from hf_skeleton.data import action_labels

DATA = Path(os.environ.get("HF_SKELETON_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--model", default=None, help="an embedded model's name or a folder (default: the "
                                                      "pipeline's default model)")
    parser.add_argument("--clip", default=str(DATA / "nw_ucla" / "all_sqe" / "a04_s01_e00_v03.json"))
    parser.add_argument("--generation", action="store_true", help="time the skeleton-generation pipeline")
    args = parser.parse_args()
    if args.generation:
        return generation(args)
    start = time.perf_counter()
    model = None if args.model is None else hs.embedded.resolve_model(args.model)
    pipe = pipeline("skeleton-understanding", model=model)
    load = time.perf_counter() - start
    seq = hs.load_skeleton(args.clip)
    labels = list(action_labels("nucla").values())
    calls = (("recognition, 10 candidate labels", lambda: pipe(seq, candidate_labels=labels)),
             ("description, up to 24 new tokens", lambda: pipe(seq, prompt="Describe the motion.", max_new_tokens=24)))
    report(pipe, seq, load, timed(calls, args.repeats), Path(args.clip).name)


def timed(calls, repeats: int) -> list[tuple[str, float, float, float]]:
    """(name, median, min, max) seconds of each call over ``repeats`` after one warm-up call."""
    rows = []
    for name, call in calls:
        call()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        rows.append((name, statistics.median(times), min(times), max(times)))
    return rows


def generation(args) -> None:
    start = time.perf_counter()
    pipe = pipeline("skeleton-generation", model=None if args.model is None else hs.embedded.resolve_model(args.model))
    load = time.perf_counter() - start
    clip = DATA / "cmu_mocap_bvh" / "02_01.bvh"  # held out from the recipe's training
    seq = hs.load_skeleton(clip)
    seq = seq.resample(round(seq.num_frames * 20 / seq.fps))
    history, middle = seq.frame_range(0, 8), seq.frame_range(16, 24)
    calls = (("prediction, 8 frames from 8", lambda: pipe(history, task="predict", num_frames=8)),
             ("in-betweening, 8-frame clip", lambda: pipe(middle, task="inbetween")),
             *decoding_calls(pipe, history))
    report(pipe, seq, load, timed(calls, args.repeats), clip.name)


def decoding_calls(pipe, history):
    """The prediction's decoding alone, two ways to the same tokens: ``generate`` with the template constraint
    (a forward per token) and ``constrained_generate`` (a forward per code slot, the pipeline's)."""
    from hf_skeleton.models.superman import MotionTemplateConstraint, constrained_generate

    preprocess = pipe._sanitize_parameters(task="predict", num_frames=8)[0]
    row = pipe.preprocess(history, **preprocess)["rows"][0]
    enc = pipe.processor(text=[row["prompt"]], return_tensors="pt")
    constraint = MotionTemplateConstraint(pipe.processor, row["num_steps"], enc["input_ids"].shape[1])
    with torch.no_grad():
        same = torch.equal(constrained_generate(pipe.model, enc, constraint, do_sample=False), pipe.model.generate(
            **enc, logits_processor=[constraint], max_new_tokens=len(constraint), do_sample=False))
    print(f"prediction template: {len(constraint)} tokens, {sum(constraint.is_code)} code slots; same tokens: {same}")

    def run(fast: bool):
        with torch.no_grad():
            if fast:
                return constrained_generate(pipe.model, enc, constraint, do_sample=False)
            return pipe.model.generate(**enc, logits_processor=[constraint], max_new_tokens=len(constraint),
                                       do_sample=False)

    return (("decoding only: generate + MotionTemplateConstraint", lambda: run(False)),
            ("decoding only: constrained_generate", lambda: run(True)))


def report(pipe, seq, load: float, rows, clip: str) -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}; model {Path(pipe.model.name_or_path).name}; "
          f"clip {clip} ({seq.num_frames} frames)")
    print(f"pipeline load (one-off): {load:.3f} s")
    print("| call | median s | min s | max s |")
    print("|---|---|---|---|")
    for name, med, lo, hi in rows:
        print(f"| {name} | {med:.4f} | {lo:.4f} | {hi:.4f} |")


if __name__ == "__main__":
    main()
