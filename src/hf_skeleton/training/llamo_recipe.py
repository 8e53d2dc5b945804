"""The LLaMo N-UCLA recipe: two SFT stages on views 1-2, evaluation on view 3, a folder with its card.

Shared by ``examples/train_llamo.py`` and ``hf-skeleton train llamo`` (same arguments, same code).
The embedded ``llamo-nucla`` checkpoint was made by it.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

from ..cards import write_model_card, write_results
from ..evaluation.recognition import score_candidate_labels
from ..errors import HFSkeletonError
from ..models.llamo import LlamoConfig, LlamoForConditionalGeneration, LlamoProcessor
from ..skeletons.io import load_skeleton
from ..testing import build_tiny_tokenizer, tiny_text_config
from .llamo_stages import INSTRUCTION_TEMPLATES, build_examples, to_sft_dataset, train_stage

NUCLA = ["pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down", "stand up",
         "donning", "doffing", "throw", "carry"]


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The recipe's options (the example and the CLI parse the same ones)."""
    p.add_argument("--data", default=None, help="folder holding nw_ucla/all_sqe (default: ../shared/data)")
    p.add_argument("--output-dir", default="llamo-nucla")
    p.add_argument("--stage1-steps", type=int, default=50)
    p.add_argument("--stage2-steps", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3, help="stage-2 learning rate (tiny models from scratch)")
    p.add_argument("--lora", action="store_true", help="stage 2 with LoRA on q_proj/v_proj instead of full tuning")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--max-clips", type=int, default=0, help="use only this many training clips (0: all)")
    p.add_argument("--eval-clips", type=int, default=0, help="evaluate on this many view-3 clips (0: all)")
    p.add_argument("--text-model", default=None, help="local causal-LM folder (else a tiny random LLM)")
    p.add_argument("--vision-model", default=None, help="local CLIP/SigLIP folder for a video tower")
    p.add_argument("--recognition-repeats", type=int, default=4,
                   help="copies of the recognition examples in the stage-2 mixture (other templates each time)")
    p.add_argument("--align-view", default="upright", choices=["none", "facing", "upright"],
                   help="view normalisation of every clip (processor): upright also removes the camera tilt")
    p.add_argument("--augment-angle", type=float, default=30.0, help="training yaw augmentation (degrees, 0: off)")
    p.add_argument("--augment-tilt", type=float, default=15.0, help="training tilt augmentation (degrees)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export-dir", default=None,
                   help="write the final model, processor, results and card here (default: --output-dir)")
    return p


def build(args):
    from transformers import AutoConfig, AutoTokenizer

    if args.text_model:
        tok = AutoTokenizer.from_pretrained(args.text_model)
        tok.add_special_tokens({"additional_special_tokens": ["<motion>", "<video>"]})
        text_config = AutoConfig.from_pretrained(args.text_model)
        text_config.vocab_size = max(text_config.vocab_size, len(tok))  # room for <motion>/<video>
    else:
        tok = build_tiny_tokenizer(extra_texts=NUCLA, extra_special_tokens=["<motion>", "<video>"])
        text_config = tiny_text_config(tok, hidden_size=args.hidden, layers=args.layers)
    vision_config = AutoConfig.from_pretrained(args.vision_model).vision_config if args.vision_model else None
    config = LlamoConfig(
        format="kinect_v1", motion_hidden_size=args.hidden, motion_num_layers=args.layers, motion_num_heads=4,
        motion_intermediate_size=2 * args.hidden, max_motion_frames=args.frames, motion_temporal_stride=4,
        use_video=vision_config is not None, vision_config=vision_config, text_config=text_config,
        motion_token_id=tok.convert_tokens_to_ids("<motion>"), video_token_id=tok.convert_tokens_to_ids("<video>"))
    model = LlamoForConditionalGeneration(config)
    if args.text_model:  # load the pretrained LLM weights into the language model and head
        from transformers import AutoModelForCausalLM

        lm = AutoModelForCausalLM.from_pretrained(args.text_model)
        lm.resize_token_embeddings(text_config.vocab_size)
        model.model.language_model.load_state_dict(lm.base_model.state_dict())
        model.lm_head.load_state_dict(lm.get_output_embeddings().state_dict())
    return model, LlamoProcessor.from_config(config, tok, align_view=args.align_view)


def run(args: argparse.Namespace, command: str = "hf-skeleton train llamo", log=print) -> dict:
    """Train, evaluate on N-UCLA view 3, save the model, processor, results and card; return the results."""
    if args.data:
        data = Path(args.data)
    else:
        from ..data.discovery import find_demo_clip

        clip = find_demo_clip()
        data = clip.parents[2] if clip is not None else Path("shared") / "data"
    files = sorted((data / "nw_ucla" / "all_sqe").glob("*.json"))
    if not files:
        raise HFSkeletonError(f"no N-UCLA clips under {data / 'nw_ucla' / 'all_sqe'}: pass --data")
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    seqs = [load_skeleton(f) for f in files]
    train = [s for s in seqs if s.meta["view"] in (1, 2)]
    test = [s for s in seqs if s.meta["view"] == 3]
    if args.max_clips:
        train = random.sample(train, min(args.max_clips, len(train)))
    if args.eval_clips:
        test = random.sample(test, min(args.eval_clips, len(test)))
    labels = [s.meta["label_name"] for s in train]
    model, proc = build(args)

    # stage 1: recognition only (alignment); stage 2: the instruction mixture
    align = to_sft_dataset(build_examples(train, "recognition", labels=labels, seed=args.seed))
    mixture = (sum((build_examples(train, "recognition", labels=labels, seed=args.seed + 1 + 10 * r)
                    for r in range(max(1, args.recognition_repeats))), [])
               + build_examples(train, "qa_verify", labels=labels, candidate_labels=NUCLA, seed=args.seed + 2)
               + build_examples(train, "qa_body_part", seed=args.seed + 3))
    augment = None
    if args.augment_angle or args.augment_tilt:
        augment = {"max_angle": args.augment_angle, "max_tilt": args.augment_tilt, "scale_range": (0.9, 1.1)}
    common = dict(per_device_train_batch_size=args.batch_size, logging_steps=25, seed=args.seed,
                  collator_kwargs={"augment": augment, "seed": args.seed})
    model, _ = train_stage(model, proc, align, 1, args.output_dir, max_steps=args.stage1_steps, **common)
    model, _ = train_stage(model, proc, to_sft_dataset(mixture), 2, args.output_dir, lora=args.lora,
                           max_steps=args.stage2_steps, learning_rate=args.lr, **common)
    if args.lora:
        model = model.merge_and_unload()

    model.eval()
    scores = score_candidate_labels(model, proc, test, INSTRUCTION_TEMPLATES["recognition"][0], NUCLA, batch_size=64)
    truth = torch.tensor([NUCLA.index(s.meta["label_name"]) for s in test])
    top1 = float((scores.argmax(-1) == truth).float().mean())
    log(f"N-UCLA view 3 top-1: {top1:.4f} ({len(test)} clips)")
    export = args.export_dir or args.output_dir
    model.save_pretrained(export)
    proc.save_pretrained(export)
    write_results(export, {"N-UCLA view 3 (trained on views 1-2)": {"top1": top1, "clips": len(test),
                                                                     "chance": 1 / len(NUCLA)}},
                  training_command=command)
    write_model_card(export, datasets=["N-UCLA"],
                     description="A small LLaMo (continuous motion encoder + tiny LLM trained from scratch) "
                                 "for N-UCLA action recognition, trained on views 1 and 2 only.")
    log(f"saved to {export}: pipeline('skeleton-understanding', model='{export}')")
    return {"top1": top1, "clips": len(test), "folder": str(export)}


