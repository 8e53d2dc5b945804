"""How much of N-UCLA's cross-view recognition a motion encoder can learn on its own (a probe).

LLaMo's spatial-temporal motion encoder + mean pooling + a linear head, trained with cross-entropy on
views 1-2 and scored on view 3. No language model: this is the ceiling the motion pathway offers the
LLM at this size and budget, and the quickest way to compare view normalisations and augmentations.
Clips go through the same processor code the models use (resample, normalise, augment_batch).

    OMP_NUM_THREADS=1 python benchmarks/motion_probe_nucla.py --align-view upright --augment-angle 30 \
        --augment-tilt 15 --epochs 25 --lr 2e-3

Prints one JSON line (view-3 top-1 every 5 epochs, the final one, wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

import hf_skeleton as hs
from hf_skeleton.models.llamo.motion_encoder import LlamoMotionEncoder
from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config
from hf_skeleton.training.motion_encoder_warmup import motion_batch, pooled_logits, warm_up_motion_encoder

DATA = Path(os.environ.get("HF_SKELETON_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--align-view", default="upright", choices=["none", "facing", "upright"])
    p.add_argument("--augment-angle", type=float, default=0.0)
    p.add_argument("--augment-tilt", type=float, default=0.0)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    seqs = [hs.load_skeleton(f) for f in sorted((DATA / "nw_ucla" / "all_sqe").glob("*.json"))]
    names = sorted({s.meta["label_name"] for s in seqs})
    train = [s.resample(args.frames) for s in seqs if s.meta["view"] in (1, 2)]
    test = [s.resample(args.frames) for s in seqs if s.meta["view"] == 3]

    tok = build_tiny_tokenizer(extra_special_tokens=["<motion>", "<video>"])
    config = hs.LlamoConfig(format="kinect_v1", motion_hidden_size=args.hidden, motion_num_layers=args.layers,
                            motion_num_heads=4, motion_intermediate_size=2 * args.hidden,
                            max_motion_frames=args.frames, motion_temporal_stride=4,
                            text_config=tiny_text_config(tok, hidden_size=32, layers=1),
                            motion_token_id=tok.convert_tokens_to_ids("<motion>"),
                            video_token_id=tok.convert_tokens_to_ids("<video>"))
    proc = hs.LlamoProcessor.from_config(config, tok, align_view=args.align_view)
    augment = None
    if args.augment_angle or args.augment_tilt:
        augment = {"max_angle": args.augment_angle, "max_tilt": args.augment_tilt, "scale_range": (0.9, 1.1)}

    y_test = torch.tensor([names.index(s.meta["label_name"]) for s in test])
    x_test, m_test = motion_batch(proc, test)
    history, start = {}, time.time()

    def probe(epoch, loss, head):
        if epoch % 5 == 0 or epoch == args.epochs:
            with torch.no_grad():
                pred = pooled_logits(encoder, head, x_test, m_test).argmax(-1)
            acc = float((torch.tensor([names.index(head.classes[i]) for i in pred]) == y_test).float().mean())
            history[epoch] = round(acc, 4)
            print(f"epoch {epoch}: loss {loss:.3f}, view-3 top-1 {acc:.4f}", flush=True)

    encoder = LlamoMotionEncoder(config)
    warm_up_motion_encoder(encoder, proc, train, [s.meta["label_name"] for s in train], epochs=args.epochs,
                           lr=args.lr, batch_size=args.batch_size, augment=augment, seed=args.seed, on_epoch=probe)
    print(json.dumps({"probe": "llamo_motion_encoder_linear_head", "view3_top1": history[args.epochs],
                      "by_epoch": history, "train_clips": len(train), "test_clips": len(test),
                      "seconds": round(time.time() - start), "args": vars(args)}))


if __name__ == "__main__":
    main()
