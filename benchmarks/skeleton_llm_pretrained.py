"""SkeletonLLM on the offline pretrained backbones (DrAction -> EfficientNet-Lite0 -> projector -> SmolLM2-135M):
a stage-1 training step (renderer + projector trained, tower and LLM frozen), median of repeated runs.

Each configuration: real N-UCLA view-1 clips (batch of ``--batch``), ``--frames`` frames, the stage-1 SFT
prompt (multiple choice text + answer), forward + backward + AdamW step. Reports visual tokens per clip,
sequence length, parameter counts and the median step time per part (render, tower, language model).

    python benchmarks/skeleton_llm_pretrained.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

import hf_skeleton as hs
from _timing import median_seconds
from hf_skeleton.training.collators import SkeletonSFTCollator

QUESTION = "What action is the person doing? Answer with the action name."
# (name, DrAction render side, tower input side; None = the backbone processor's 224)
CONFIGS = [("render224-tower224", 224, None), ("render112-tower224", 112, None), ("render112-tower112", 112, 112)]


def bench(name: str, render: int, tower_size: int | None, examples: list[dict], args) -> dict:
    torch.manual_seed(0)
    vision, text = hs.backbone_path("efficientnet-lite0"), hs.backbone_path("smollm2-135m-instruct")
    draction = hs.DrActionConfig(format="kinect_v1", num_frames=args.frames, image_size=render, backend="torch")
    model, processor = hs.SkeletonLLMForConditionalGeneration.from_backbones(
        vision, text, draction, token_grid=args.token_grid, image_size=tower_size)
    counts = model.set_trainable(["renderer", "projector"])
    model.train()
    batch = SkeletonSFTCollator(processor)(examples)
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=2e-5)
    inner = model.model

    def step():
        model(**batch).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def render_only():
        inner.render(batch["skeletons"], batch["skeleton_mask"]).mean().backward()
        opt.zero_grad(set_to_none=True)

    frames = inner.render(batch["skeletons"], batch["skeleton_mask"]).detach().requires_grad_(True)

    def tower_only():  # through the frozen tower back to its input, as stage 1 needs
        pixels = inner.frames_to_vision_inputs(frames)["pixel_values"]
        inner.vlm.get_image_features(pixel_values=pixels).pooler_output[0].sum().backward()
        frames.grad = None
        opt.zero_grad(set_to_none=True)

    return {"config": name, "batch": args.batch, "frames": args.frames, "render_px": render,
            "tower_px": model.config.adapter_config().size[0],
            "visual_tokens_per_clip": model.config.num_visual_tokens(),
            "sequence_length": int(batch["input_ids"].shape[1]),
            "parameters_M": round(sum(counts.values()) / 1e6, 2),
            "trainable_stage1": sum(q.numel() for q in model.parameters() if q.requires_grad),
            "trainable_by_group": {g: counts[g] for g in ("renderer", "projector")},
            "step_s": round(median_seconds(step, args.repeats), 2),
            "render_fwd_bwd_s": round(median_seconds(render_only, args.repeats), 2),
            "tower_fwd_bwd_s": round(median_seconds(tower_only, args.repeats), 2),
            "threads": args.threads}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--token-grid", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--configs", nargs="*", default=[c[0] for c in CONFIGS])
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    files = sorted((args.data / "nw_ucla" / "all_sqe").glob("a*_s01_e00_v01.json"))[:args.batch]
    clips = [hs.load_skeleton(f) for f in files]
    examples = [{"skeleton": c, "prompt": QUESTION, "answer": c.meta["label_name"]} for c in clips]
    rows = []
    for name, render, tower_size in CONFIGS:
        if name in args.configs:
            rows.append(bench(name, render, tower_size, examples, args))
            print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    main()
