"""Candidate-label scoring: the shared-prefix path (one encoding per clip) against the pairwise path.

Loads an embedded understanding model the way ``hf-skeleton evaluate`` does, scores the first
--clips N-UCLA view-3 clips against the 10 action names with both paths (alternating, --repeats
times each), and prints one JSON line: median seconds per path, speed-up, the largest score
difference and whether the predicted labels agree.

    OMP_NUM_THREADS=1 python benchmarks/candidate_scoring.py --model skeleton-llm-nucla --clips 40
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

import hf_skeleton as hs
from hf_skeleton.data import action_labels
from hf_skeleton.evaluation.protocols import RECOGNITION_QUESTION, load_protocol_clips
from hf_skeleton.evaluation.recognition import predict_labels, score_candidate_labels

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="skeleton-llm-nucla", help="an embedded model name or a saved folder")
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32, help="as hf-skeleton evaluate's default")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args()

    path = hs.embedded_model_path(args.model) if args.model in hs.list_embedded_models() else args.model
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    processor = AutoProcessor.from_pretrained(path)
    clips = load_protocol_clips("nucla-view3", args.data, limit=args.clips)
    labels = list(action_labels("nucla").values())

    times: dict[bool, list[float]] = {True: [], False: []}
    scores: dict[bool, torch.Tensor] = {}
    for _ in range(args.repeats):
        for share in (True, False):
            t0 = time.perf_counter()
            scores[share] = score_candidate_labels(model, processor, clips, RECOGNITION_QUESTION, labels,
                                                   batch_size=args.batch_size, share_prefix=share)
            times[share].append(time.perf_counter() - t0)
    shared, pairwise = (statistics.median(times[k]) for k in (True, False))
    preds = {k: predict_labels(v, labels) for k, v in scores.items()}
    references = [c.meta["label_name"] for c in clips]
    print(json.dumps({
        "model": args.model, "clips": len(clips), "candidates": len(labels), "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(), "repeats": args.repeats,
        "shared_prefix_s": round(shared, 2), "pairwise_s": round(pairwise, 2),
        "speedup": round(pairwise / shared, 2),
        "all_shared_s": [round(t, 2) for t in times[True]], "all_pairwise_s": [round(t, 2) for t in times[False]],
        "max_abs_score_diff": float((scores[True] - scores[False]).abs().max()),
        "predictions_agree": preds[True] == preds[False],
        "top1_shared": sum(p == r for p, r in zip(preds[True], references)) / len(clips),
        "top1_pairwise": sum(p == r for p, r in zip(preds[False], references)) / len(clips),
    }))


if __name__ == "__main__":
    main()
