"""Train SkeletonLLM through the paper's four stages on real N-UCLA clips, on CPU, in minutes.

    python examples/train_skeleton_llm.py --output-dir skllm_tiny            # tiny VLM built here
    python examples/train_skeleton_llm.py --vlm Qwen/Qwen2.5-VL-7B-Instruct  # a real checkpoint (GPU)
    accelerate launch examples/train_skeleton_llm.py ...                     # several GPUs, unchanged

Stages (hf_skeleton.training.skeleton_llm_stages, each a trl.SFTTrainer run):
  0  (tiny VLM only, not in the paper) whole model on the texts of all stages, so a random VLM
     learns the answer vocabulary
  1  alignment warm-up, multiple choice over seen labels: renderer + projector
  2  yes/no on confusable pairs (shipped N-UCLA table): renderer + projector
  3  rationales from a teacher (here the data-driven kinematic teacher; pass any HF model or
     function to RationaleBuilder), cached as JSONL: renderer + projector + LoRA r=32
  4  recognition refinement: projector + LoRA, renderer frozen
Before and after every stage the script prints the stage's loss on its own examples (eval mode,
deterministic frames), so you can see each stage lower it. At the end LoRA is merged, the model
and processor are saved, and the skeleton-understanding pipeline reloads them from the folder.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from transformers import pipeline

import hf_skeleton as hs
from hf_skeleton.data import action_labels, confusable_pairs
from hf_skeleton.testing import QWEN_VISION_TOKENS, build_tiny_tokenizer, tiny_qwen2_5_vl_config
from hf_skeleton.training.collators import SkeletonSFTCollator
from hf_skeleton.training.confusable_pairs import (
    multiple_choice_examples,
    named_pairs,
    recognition_examples,
    yes_no_examples,
)
from hf_skeleton.training.rationales import RationaleBuilder, kinematic_teacher, rationale_examples
from hf_skeleton.training.skeleton_llm_stages import STAGES, train_stage

NAMES = action_labels("nucla")


def nucla_clips(data: Path, per_class: int, views=("v01", "v02")):
    by_class = defaultdict(list)
    for f in sorted((data / "nw_ucla" / "all_sqe").glob("*.json")):
        if f.stem[-3:] in views and len(by_class[f.name[:3]]) < per_class:
            by_class[f.name[:3]].append(f)
    clips = [hs.load_skeleton(f) for fs in by_class.values() for f in fs]
    return clips, [c.meta["label_name"] for c in clips]


def build_model(args, names):
    if args.vlm:
        model = hs.SkeletonLLMForConditionalGeneration.from_backbone_pretrained(
            args.vlm, draction_config=hs.DrActionConfig(format="kinect_v1", num_frames=args.frames,
                                                        image_size=args.size))
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(args.vlm)
        tokenizer.add_special_tokens({"additional_special_tokens": [model.config.skeleton_token]})
        model.resize_token_embeddings(len(tokenizer))
        return model, hs.SkeletonLLMProcessor.from_model_config(model.config, tokenizer)
    tokenizer = build_tiny_tokenizer(extra_texts=names, extra_special_tokens=QWEN_VISION_TOKENS + ("<skeleton>",))
    torch.manual_seed(0)
    draction = hs.DrActionConfig(format="kinect_v1", num_frames=args.frames, image_size=args.size, backend="torch",
                                 train_sampling="uniform", joint_scale_base=0.06, bone_scale_base=0.045,
                                 joint_scale_clamp=(0.02, 0.08), bone_scale_clamp=(0.015, 0.07))
    config = hs.SkeletonLLMConfig(draction, tiny_qwen2_5_vl_config(tokenizer))
    model = hs.SkeletonLLMForConditionalGeneration(config)
    return model, hs.SkeletonLLMProcessor.from_model_config(config, tokenizer)


def eval_loss(model, processor, examples, batch_size=16) -> float:
    collator = SkeletonSFTCollator(processor)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            batch = collator(examples[i:i + batch_size])
            n = int((batch["labels"][:, 1:] != -100).sum())
            total += model(**batch).loss.item() * n
            count += n
    return total / count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--output-dir", type=Path, default=Path("skeleton_llm_tiny"))
    ap.add_argument("--vlm", default=None, help="a pretrained VLM id or folder (default: a tiny random Qwen2.5-VL)")
    ap.add_argument("--per-class", type=int, default=1)
    ap.add_argument("--frames", type=int, default=2)
    ap.add_argument("--size", type=int, default=56)
    ap.add_argument("--epochs", type=float, nargs=5, default=[6, 4, 4, 4, 4], help="epochs of stages 0-4")
    ap.add_argument("--lr", type=float, nargs=5, default=[3e-3, 1e-2, 1e-2, 3e-3, 3e-3],
                    help="learning rates of stages 0-4 (the paper's 2e-5 is for pretrained 8B VLMs)")
    args = ap.parse_args()
    names = list(NAMES.values())
    clips, labels = nucla_clips(args.data, args.per_class)
    model, processor = build_model(args, names)
    work = args.output_dir / "runs"
    rationales = RationaleBuilder(kinematic_teacher, cache=args.output_dir / "rationales.jsonl")(clips, labels)
    stage_examples = {
        1: multiple_choice_examples(clips, labels, names),
        2: yes_no_examples(clips, labels, named_pairs(confusable_pairs("nucla"), NAMES)),
        3: rationale_examples(clips, labels, rationales),
        4: recognition_examples(clips, labels),
    }
    stage_examples[0] = [ex for k in (1, 2, 3, 4) for ex in stage_examples[k]]
    stages = [1, 2, 3, 4] if args.vlm else [0, 1, 2, 3, 4]
    for stage in stages:
        examples = stage_examples[stage]
        before = eval_loss(model, processor, examples)
        model, _ = train_stage(model, processor, examples, stage, str(work / f"stage{stage}"),
                               learning_rate=args.lr[stage], num_train_epochs=args.epochs[stage],
                               per_device_train_batch_size=8, logging_steps=5, disable_tqdm=True)
        after = eval_loss(model, processor, examples)
        spec = STAGES[stage]
        print(f"stage {stage} ({spec.name}; trains {', '.join(spec.train)}{' + LoRA' if spec.lora else ''}): "
              f"loss {before:.3f} -> {after:.3f} ({'falls' if after < before else 'DOES NOT FALL'})", flush=True)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.save_pretrained(args.output_dir)
    processor.save_pretrained(args.output_dir)
    pipe = pipeline("skeleton-understanding", model=str(args.output_dir))
    test = sorted((args.data / "nw_ucla" / "all_sqe").glob("a05_*_v03.json"))[0]
    print(f"{test.name} (sit down):", pipe(str(test), candidate_labels=names)[:3])
    print("description:", pipe(str(test), prompt="What is the person doing? Explain the movement, then give the "
                                                "action name.", max_new_tokens=24))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
