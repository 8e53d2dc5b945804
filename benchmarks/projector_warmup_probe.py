"""SkeletonLLM's projector warm-up as a probe of the frame pathway (issue 14).

The recipe's composed VLM (DrAction 8 frames at 112 px -> frozen ImageNet EfficientNet-Lite0, 2 x 2 tokens a
frame): the tower tokens of N-UCLA views 1-2 are computed once, the projector + GRU head of
:func:`hf_skeleton.training.projector_warmup.warm_up_projector` learn the 10 classes, and the head is scored on
every view-3 clip each 5 epochs. Prints one JSON line (feature and warm-up seconds, view-3 top-1 per epoch).

    OMP_NUM_THREADS=2 python benchmarks/projector_warmup_probe.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from hf_skeleton.training.projector_warmup import projected_logits, tower_features, warm_up_projector
from hf_skeleton.training.skeleton_llm_recipe import NAMES, SkeletonLLMRecipeConfig, build_model, nucla_clips

DATA = Path(os.environ.get("HF_SKELETON_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, processor = build_model(SkeletonLLMRecipeConfig(), list(NAMES.values()))
    train, labels = nucla_clips(DATA, 0)
    test, truth = nucla_clips(DATA, 0, views=("v03",))
    start = time.perf_counter()
    train_feats, test_feats = tower_features(model, processor, train), tower_features(model, processor, test)
    feature_s = time.perf_counter() - start
    projector = model.model.vlm.multi_modal_projector
    curve = {}

    def score(epoch: int, loss: float, head) -> None:
        if epoch % 5 == 0:
            with torch.no_grad():
                pred = projected_logits(projector, head, test_feats).argmax(-1).tolist()
            curve[epoch] = round(sum(head.classes[k] == y for k, y in zip(pred, truth)) / len(truth), 4)

    start = time.perf_counter()
    warm_up_projector(model, processor, train, labels, features=train_feats, epochs=args.epochs, on_epoch=score)
    print(json.dumps({"train_clips": len(train), "test_clips": len(test), "feature_seconds": round(feature_s, 1),
                      "warmup_seconds_incl_scoring": round(time.perf_counter() - start, 1),
                      "view3_top1_by_epoch": curve}))


if __name__ == "__main__":
    main()
