"""The LLaMo recipe: two SFT stages on N-UCLA views 1-2, evaluation on view 3, a folder with its card; or the
same stages on any converted dataset (``--dataset DIR_OR_HUB_ID``, :mod:`~hf_skeleton.training.recipe_data`),
evaluated on its ``--eval-split`` with :func:`~hf_skeleton.evaluation.dataset_eval.evaluate_dataset`.

Shared by ``examples/train_llamo.py``, ``hf-skeleton train llamo`` and :func:`train_llamo` (same arguments,
same code).
The embedded ``llamo-nucla`` checkpoint was made by it, with its defaults: SmolLM2-135M-Instruct
(``hs.backbone_path``) with LoRA r=16 on q/v, a 2-layer motion encoder (hidden 128) warmed up with a
classification head (:mod:`~hf_skeleton.training.motion_encoder_warmup`), stage 1 (encoder and LLM frozen,
projector trained, 200 steps), stage 2 (the instruction mixture: projector + encoder + LoRA, 400 steps).
``--text-model none`` builds the tiny from-scratch LLM of the unit tests instead. ``--base NAME_OR_FOLDER_OR_HUB_ID``
names the model to fine-tune whatever it is (:mod:`~hf_skeleton.training.base_model`): a causal LM fills
``--text-model``, a saved LLaMo (or ``llamo-nucla``) ``--init-from``.

A dataset without labels (``--label-column none``, or no ``label`` column beside a ``text`` column: CMU
trials with their descriptions, say) is captioning only: its captioned clips answer every stage's
captioning prompts where label names would answer recognition ones (stage 1: captions; stage 2: captions
and the body-part questions; describing: captions), the encoder warm-up is skipped (it needs classes), and
the evaluation split is scored with BLEU-4 and ROUGE-L of generated descriptions (``top1`` None).

Runs are resumable (:mod:`~hf_skeleton.training.recipe_progress`): each phase (encoder warm-up, stage 1,
stage 2, describing) ends with the model and processor saved in ``OUTPUT_DIR/phases/`` and recorded in
``OUTPUT_DIR/recipe_state.json``; stages write a checkpoint every ``--save-steps`` steps. ``--resume``
reloads the last finished phase, skips the finished ones and continues an unfinished stage from its last
checkpoint, ending with the weights of an uninterrupted run; a changed config is refused
(:class:`~hf_skeleton.training.recipe_progress.RecipeResumeError`). Each phase starts with a
``phase k/n NAME (S steps): ... elapsed, about ... left`` line.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from ..backbone_weights import (
    BackboneSource,
    BackboneTensors,
    backbone_reference,
    language_model_entries,
    unwrap_peft,
    vision_tower_entry,
)
from ..cards import write_model_card, write_results
from ..data import open_vocab_names, open_vocab_split
from ..errors import CheckpointError, HFSkeletonError
from ..evaluation.protocols import open_vocabulary_protocol
from ..evaluation.recognition import score_candidate_labels
from ..models.composed_vlm import vision_tower_config
from ..models.llamo import LlamoConfig, LlamoForConditionalGeneration, LlamoProcessor
from ..models.skeleton_llm.image_adapters import VISION_TOWER_FAMILIES
from ..skeletons.formats import get_format
from ..skeletons.geometry import supported_view_alignment
from ..skeletons.io import load_skeleton
from ..testing import build_tiny_tokenizer, tiny_text_config
from .base_model import base_kind, conflict, refuse, resolve_embedded
from .llamo_stages import INSTRUCTION_TEMPLATES, build_examples, to_sft_dataset, train_stage
from .motion_encoder_warmup import warm_up_motion_encoder
from .rationales import RationaleBuilder, kinematic_teacher
from .recipe_config import as_config, require
from .recipe_data import (
    DatasetOptions,
    RecipeData,
    alignment_note,
    card_datasets,
    evaluate_recipe_data,
    recipe_data,
)
from .recipe_progress import Phase, RecipeProgress, ResumeOptions

logger = logging.getLogger(__name__)

NUCLA = ["pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down", "stand up",
         "donning", "doffing", "throw", "carry"]


@dataclass
class LlamoRecipeConfig(ResumeOptions, DatasetOptions):
    """Options of the LLaMo recipe (``hf-skeleton train llamo --help`` lists them): N-UCLA by default, or
    ``dataset`` with its split and column options (:class:`~hf_skeleton.training.recipe_data.DatasetOptions`)."""

    data: str | None = field(default=None, metadata={"help": "folder holding nw_ucla/all_sqe (default: ../shared/data)"})
    output_dir: str = "llamo-nucla"
    encoder_warmup_epochs: int = field(default=30, metadata={
        "help": "epochs of motion-encoder warm-up with a classification head before stage 1 (0: off); "
                "with it, stage 1 keeps the encoder frozen, as the paper aligns pretrained encoders"})
    encoder_warmup_lr: float = 2e-3
    stage1_steps: int = 200
    stage1_lr: float = field(default=1e-3, metadata={"help": "stage-1 (alignment) learning rate"})
    stage2_steps: int = 400
    batch_size: int = 16
    lr: float = field(default=2e-4, metadata={"help": "stage-2 learning rate (LLaVA's 2e-4 for LoRA; 1e-3 for a "
                                                      "tiny LLM trained from scratch)"})
    lora: bool = field(default=True, metadata={"help": "stage 2 with LoRA on q_proj/v_proj (--no-lora: full tuning)"})
    hidden: int = 128
    layers: int = 2
    frames: int = 16
    max_clips: int = field(default=0, metadata={"help": "use only this many training clips (0: all)"})
    eval_clips: int = field(default=0, metadata={"help": "evaluate on this many view-3 clips (0: all)"})
    base: str | None = field(default=None, metadata={
        "help": "the model to fine-tune: a causal LM (backbone name, folder or Hub id; fills --text-model) or a "
                "saved LLaMo folder / embedded model (fills --init-from); 'none': the tiny test LLM"})
    text_model: str | None = field(default="smollm2-135m-instruct", metadata={
        "help": "the pretrained LLM: a backbone name, a causal-LM folder or Hub id; 'none': a tiny random LLM "
                "trained from scratch (a test fixture)"})
    vision_model: str | None = field(default=None, metadata={
        "help": "video tower: a backbone name (efficientnet-lite0), or a local CLIP/SigLIP folder"})
    video_frames: int = field(default=8, metadata={
        "help": "frames sampled per video for the video tower (LLaMo's 8); each adds the tower's tokens per frame"})
    caption_steps: int = field(default=150, metadata={
        "help": "steps of a describing stage after stage 2: 'Describe the motion.' answered with the kinematic "
                "teacher's description of the clip, recognition replayed beside it (0: none)"})
    caption_lr: float = 1e-4
    init_from: str | None = field(default=None, metadata={
        "help": "start from a saved LLaMo folder instead of building one (set the earlier stages' steps to 0)"})
    recognition_repeats: int = field(default=4, metadata={
        "help": "copies of the recognition examples in the stage-2 mixture (other templates each time)"})
    align_view: Literal["none", "facing", "upright"] = field(default="upright", metadata={
        "help": "view normalisation of every clip (processor): upright also removes the camera tilt; a format "
                "without hips and shoulders (or mirror pairs) gets the strongest alignment it allows"})
    augment_angle: float = field(default=30.0, metadata={"help": "training yaw augmentation (degrees, 0: off)"})
    augment_tilt: float = field(default=15.0, metadata={"help": "training tilt augmentation (degrees)"})
    unseen_split: str | None = field(default=None, metadata={
        "help": "open-vocabulary run: train on the seen classes of a shipped N-UCLA split (8/2-seed0, "
                "8/2-seed1, 8/2-seed2) and score view-3 clips of its unseen classes against the unseen names"})
    seed: int = 0
    export_dir: str | None = field(default=None, metadata={
        "help": "write the final model, processor, results and card here (default: --output-dir)"})

    def __post_init__(self):
        if isinstance(self.text_model, str) and self.text_model.lower() in ("", "none"):
            self.text_model = None
        if self.base is not None:
            self._fill_from_base()
        require(self, positive=("batch_size", "lr", "stage1_lr", "encoder_warmup_lr", "caption_lr", "hidden",
                                "layers", "frames", "video_frames", "recognition_repeats"),
                non_negative=("encoder_warmup_epochs", "stage1_steps", "stage2_steps", "caption_steps", "max_clips", "eval_clips", "augment_angle",
                              "augment_tilt", "save_steps"))
        if self.unseen_split:
            open_vocab_split("nucla", self.unseen_split)  # a typed error for an unknown split


    def _fill_from_base(self) -> None:
        """``base`` -> ``text_model`` (a causal LM, or "none") or ``init_from`` (a saved LLaMo)
        (:mod:`~hf_skeleton.training.base_model`); a different value given beside it is a typed error."""
        name = type(self).__name__
        kind, model_type = base_kind(self.base)
        default = type(self).__dataclass_fields__["text_model"].default
        if kind in ("causal-lm", "none"):
            text_model = None if kind == "none" else self.base
            if self.text_model not in (default, text_model):
                raise conflict(name, "text_model", self.base, self.text_model)
            self.text_model = text_model
        elif kind == "llamo":
            folder = resolve_embedded(self.base)
            if self.init_from not in (None, self.base, folder):
                raise conflict(name, "init_from", self.base, self.init_from)
            self.init_from = folder
        else:
            raise refuse(name, self.base, kind, model_type, "a causal language model (the LLM LLaMo projects "
                         "motion into) or a saved LLaMo; a VLM is SkeletonLLM's base (hf-skeleton train skeleton-llm)")


RECIPE_CONFIG = LlamoRecipeConfig  # what the CLI parses for this recipe


def build(args, format: str = "kinect_v1", extra_texts: list[str] | None = None):
    """The model and processor of the recipe for clips of skeleton ``format``: a tiny random LLM (its
    tokenizer built from ``extra_texts``, default the N-UCLA names), or ``args.text_model`` (a backbone
    name such as ``smollm2-135m-instruct``, a folder or a Hub id) whose weights the saved folder then
    references instead of copying (``config.backbone_weights``)."""
    from transformers import AutoConfig, AutoTokenizer

    entries = None
    if args.text_model:
        folder, reference = backbone_reference(args.text_model)
        tok = AutoTokenizer.from_pretrained(folder)
        tok.add_special_tokens({"additional_special_tokens": ["<motion>", "<video>"]})
        text_config = AutoConfig.from_pretrained(folder)
        text_config.vocab_size = max(text_config.vocab_size, len(tok))  # room for <motion>/<video>
        entries = language_model_entries(reference, text_config, "model.language_model.")
    else:
        tok = build_tiny_tokenizer(extra_texts=extra_texts or NUCLA, extra_special_tokens=["<motion>", "<video>"])
        text_config = tiny_text_config(tok, hidden_size=args.hidden, layers=args.layers)
    vision_config, image_processor, feature_layer = None, None, -2
    if args.vision_model:
        vision_folder, vision_ref = backbone_reference(args.vision_model)
        source = AutoConfig.from_pretrained(vision_folder)
        if source.model_type in VISION_TOWER_FAMILIES:  # a pretrained CNN (EfficientNet-Lite0): 2 x 2 tokens a frame
            from transformers import AutoImageProcessor

            vision_config, feature_layer = vision_tower_config(str(vision_folder), token_grid=2), -1
            image_processor = AutoImageProcessor.from_pretrained(vision_folder)
            entries = (entries or []) + [vision_tower_entry(vision_ref, vision_folder, "model.vision_tower.")]
        else:  # a CLIP / SigLIP checkpoint (the dual encoder or its vision model alone): its vision weights
            from transformers import AutoImageProcessor

            vision_config = getattr(source, "vision_config", source)
            # a dual encoder keeps its tower under vision_model.; a vision model alone saved by transformers 5
            # has flat keys (older ones used vision_model. too); our tower is the vision model alone
            nested = any(k.startswith("vision_model.") for k in BackboneTensors(vision_folder).names())
            entries = (entries or []) + [{"backbone": vision_ref, "source": "vision_model." if nested else "",
                                          "target": "model.vision_tower."}]
            try:
                image_processor = AutoImageProcessor.from_pretrained(vision_folder)
            except OSError:  # no preprocessor_config.json: the processor's default for the tower
                image_processor = None
    config = LlamoConfig(
        format=format, motion_hidden_size=args.hidden, motion_num_layers=args.layers, motion_num_heads=4,
        motion_intermediate_size=2 * args.hidden, max_motion_frames=args.frames, motion_temporal_stride=4,
        use_video=vision_config is not None, vision_config=vision_config, vision_feature_layer=feature_layer,
        num_video_frames=args.video_frames,
        text_config=text_config,
        motion_token_id=tok.convert_tokens_to_ids("<motion>"), video_token_id=tok.convert_tokens_to_ids("<video>"),
        tie_word_embeddings=bool(getattr(text_config, "tie_word_embeddings", False)), backbone_weights=entries)
    model = LlamoForConditionalGeneration(config)
    if entries:  # the pretrained LLM (added tokens: the mean embedding, as a reload rebuilds them) and tower
        left = BackboneSource(entries).fill(model, list(model.state_dict()))
        filled = tuple(e["target"] for e in entries if e["target"].startswith("model."))
        missing = [k for k in left if k.startswith(filled)]
        if missing:
            raise CheckpointError(args.vision_model if "vision_tower" in missing[0] else args.text_model,
                                  f"no backbone tensor for {missing[:3]}")
    align_view = supported_view_alignment(get_format(format), args.align_view)  # the strongest the format allows
    return model, LlamoProcessor.from_config(config, tok, image_processor=image_processor, align_view=align_view)


def nucla_data(args: LlamoRecipeConfig) -> RecipeData:
    """The recipe's own data: N-UCLA views 1-2 to train, view 3 to test, the 10 N-UCLA label names."""
    if args.data:
        data = Path(args.data)
    else:
        from ..data.discovery import find_demo_clip

        clip = find_demo_clip()
        data = clip.parents[2] if clip is not None else Path("shared") / "data"
    files = sorted((data / "nw_ucla" / "all_sqe").glob("*.json"))
    if not files:
        raise HFSkeletonError(f"no N-UCLA clips under {data / 'nw_ucla' / 'all_sqe'}: pass --data")
    seqs = [load_skeleton(f) for f in files]
    train = [s for s in seqs if s.meta["view"] in (1, 2)]
    test = [s for s in seqs if s.meta["view"] == 3]
    return RecipeData(train=train, labels=[s.meta["label_name"] for s in train], names=list(NUCLA),
                      format=get_format("kinect_v1"), test=test)


WARMUP = "encoder warm-up"


def phases(args: LlamoRecipeConfig, clips: int, warmup_epochs: int | None = None) -> list[Phase]:
    """The phases ``args`` runs on ``clips`` training clips, with their sizes in optimiser steps
    (``warmup_epochs``: the encoder warm-up's, default ``args.encoder_warmup_epochs``)."""
    out = []
    warmup_epochs = args.encoder_warmup_epochs if warmup_epochs is None else warmup_epochs
    if warmup_epochs:  # warm_up_motion_encoder's batches of 32
        out.append(Phase(WARMUP, warmup_epochs * max(1, clips // min(32, max(1, clips))), "warm-up"))
    out += [Phase(name, steps) for name, steps in (("stage 1", args.stage1_steps), ("stage 2", args.stage2_steps),
                                                   ("describing", args.caption_steps)) if steps]
    return out


def run(args: LlamoRecipeConfig, command: str = "hf-skeleton train llamo", log: Callable[[str], Any] | None = None) -> dict:
    """Train, evaluate (N-UCLA view 3, or the dataset's ``eval_split``), save the model, processor, results,
    confusion matrix (datasets) and card; return the results (``top1``, ``clips``, ``folder``, and
    ``evaluation``: the :func:`~hf_skeleton.evaluation.dataset_eval.evaluate_dataset` result for a dataset).
    ``args``: a :class:`LlamoRecipeConfig` (or parsed options with its fields)."""
    log = log or logger.info  # the CLI passes print
    args = as_config(LlamoRecipeConfig, args)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    data = recipe_data(args, lambda: nucla_data(args), log=log)
    seen, unseen = data.names, []
    if args.unseen_split:  # the unseen classes' clips and names never appear in training
        seen, unseen = open_vocab_names("nucla", args.unseen_split)
        data = data.subset([i for i, y in enumerate(data.labels) if y in seen])
    if args.max_clips:
        data = data.subset(random.sample(range(len(data.train)), min(args.max_clips, len(data.train))))
    if args.eval_clips and data.test is not None:
        data.test = random.sample(data.test, min(args.eval_clips, len(data.test)))
    train, test, labels = data.train, data.test, data.labels

    # the examples of every phase (each draws from its own seed), then the phases; a captioning-only dataset
    # answers with its captions where the others answer with label names
    task = "captioning" if data.captioning_only else "recognition"
    answers = {"captions": data.texts} if data.captioning_only else {"labels": labels}
    align = to_sft_dataset(build_examples(train, task, seed=args.seed, **answers))
    mixture = (sum((build_examples(train, task, seed=args.seed + 1 + 10 * r, **answers)
                    for r in range(max(1, args.recognition_repeats))), [])
               + ([] if data.captioning_only else
                  build_examples(train, "qa_verify", labels=labels, candidate_labels=seen, seed=args.seed + 2))
               + build_examples(train, "qa_body_part", seed=args.seed + 3))
    describe = None
    if args.caption_steps and data.captioning_only:  # describing: the captions again, in other templates
        describe = build_examples(train, "captioning", captions=data.texts, seed=args.seed + 4)
    elif args.caption_steps:  # describing: the data's captions, else kinematic descriptions; recognition replayed
        if data.captioned():
            keep = data.captioned()
            described = build_examples([train[i] for i in keep], "captioning", captions=[data.texts[i] for i in keep],
                                       seed=args.seed + 4)
        else:
            captions = RationaleBuilder(kinematic_teacher, cache=Path(args.output_dir) / "descriptions.jsonl")(
                train, labels, keys=[f"{k}|{y}" for k, y in zip(data.keys, labels)])
            described = build_examples(train, "captioning", captions=captions, seed=args.seed + 4)
        describe = described + build_examples(train, "recognition", labels=labels, seed=args.seed + 5)
    warmup_epochs = 0 if data.captioning_only else args.encoder_warmup_epochs
    if args.encoder_warmup_epochs and not warmup_epochs:
        log("no labels: no encoder warm-up (its classification head needs classes); stage 1 trains the encoder")
    progress = RecipeProgress(args.output_dir, args, phases(args, len(train), warmup_epochs), resume=args.resume,
                              log=log)

    restored = progress.restore(LlamoForConditionalGeneration, LlamoProcessor)
    if restored is not None:  # a resumed run: the model saved after its last finished phase
        model, proc = restored
    elif args.init_from:  # continue from a saved LLaMo (its processor too); the stages given steps run on it
        model = LlamoForConditionalGeneration.from_pretrained(args.init_from)
        proc = LlamoProcessor.from_pretrained(args.init_from)
    elif data.is_dataset:  # the dataset's format; a tiny LLM's tokenizer also learns its names and captions
        model, proc = build(args, format=data.format, extra_texts=data.names + [t for t in data.texts or [] if t])
        note = alignment_note(data.format, args.align_view, proc.align_view)
        if note:
            log(note)
    else:
        model, proc = build(args)

    augment = None
    if args.augment_angle or args.augment_tilt:
        augment = {"max_angle": args.augment_angle, "max_tilt": args.augment_tilt, "scale_range": (0.9, 1.1)}
    common = dict(per_device_train_batch_size=args.batch_size, logging_steps=25, seed=args.seed,
                  collator_kwargs={"augment": augment, "seed": args.seed})

    def stage(name: str, examples, stage_number: int, **kwargs):
        progress.start(name)
        checkpoints = args.checkpoint_options()
        trained, _ = train_stage(model, proc, examples, stage_number, str(progress.checkpoints(name)),
                                 resume_from_checkpoint=progress.resume_checkpoint(name), **checkpoints, **common,
                                 **kwargs)
        trained = unwrap_peft(trained)  # adapters stay unmerged: the folder then ships them, not the base weights
        progress.finish(name, trained, proc)
        return trained

    if warmup_epochs and not progress.done(WARMUP):
        def on_epoch(epoch, loss, head):
            log(f"encoder warm-up epoch {epoch}/{args.encoder_warmup_epochs}: loss {loss:.3f}")

        progress.start(WARMUP)
        warm_up_motion_encoder(model.model.motion_encoder, proc, train, labels, epochs=args.encoder_warmup_epochs,
                               lr=args.encoder_warmup_lr, augment=augment, seed=args.seed, on_epoch=on_epoch)
        progress.finish(WARMUP, model, proc)
    # stage 1: recognition only (alignment); stage 2: the instruction mixture; describing
    if args.stage1_steps and not progress.done("stage 1"):
        model = stage("stage 1", align, 1, max_steps=args.stage1_steps, learning_rate=args.stage1_lr,
                      train_motion_encoder=not warmup_epochs)
    if args.stage2_steps and not progress.done("stage 2"):
        model = stage("stage 2", to_sft_dataset(mixture), 2, lora=args.lora, max_steps=args.stage2_steps,
                      learning_rate=args.lr)
    if describe is not None and not progress.done("describing"):
        model = stage("describing", to_sft_dataset(describe), 2, lora=args.lora, max_steps=args.caption_steps,
                      learning_rate=args.caption_lr)
    progress.end()

    model.eval()
    export = args.export_dir or args.output_dir
    question = INSTRUCTION_TEMPLATES["recognition"][0]
    evaluation, top1, results = None, None, {}
    if data.eval_split is not None:  # a dataset: its eval split, as `hf-skeleton evaluate --dataset` scores it
        evaluation, results = evaluate_recipe_data(model, proc, data, export, limit=args.eval_clips, seed=args.seed,
                                                   batch_size=64, log=log)
        top1, clips = evaluation["top1"], evaluation["num_clips"]
    elif test is not None:
        scores = score_candidate_labels(model, proc, test, question, NUCLA, batch_size=64)
        truth = torch.tensor([NUCLA.index(s.meta["label_name"]) for s in test])
        top1, clips = float((scores.argmax(-1) == truth).float().mean()), len(test)
        log(f"N-UCLA view 3 top-1: {top1:.4f} ({len(test)} clips)")
        results = {"N-UCLA view 3 (trained on views 1-2)": {"top1": top1, "clips": len(test),
                                                            "chance": 1 / len(NUCLA)}}
    else:
        clips = 0
        log(f"{data.source}: no evaluation split (--eval-split none)")
    if unseen:
        split = open_vocabulary_protocol(model, proc, test, seen, unseen, question=question, batch_size=64)
        for part in ("seen", "unseen", "all_names"):
            log(f"N-UCLA view 3, {part} ({split[part]['clips']} clips): top-1 {split[part]['top1_likelihood']:.4f}"
                f" (chance {split[part]['chance']:.2f})")
        results[f"N-UCLA view 3 open-vocabulary {args.unseen_split}"] = split
    export = args.export_dir or args.output_dir
    model.save_pretrained(export)
    proc.save_pretrained(export)
    write_results(export, results, training_command=command)
    trained_on = (f"for {'motion captioning' if data.captioning_only else 'action recognition'} on "
                  f"{card_datasets(data)[0]} ({data.format.num_joints}-joint format "
                  f"`{data.format.name}`), trained on its `{args.train_split}` split." if data.is_dataset
                  else "for N-UCLA action recognition, trained on views 1 and 2 only.")
    write_model_card(export, datasets=card_datasets(data),
                     description=(f"LLaMo (a continuous motion encoder projected into `{args.text_model}`, LoRA) "
                                  if args.text_model else "A small LLaMo (continuous motion encoder + tiny LLM "
                                  "trained from scratch) ") + trained_on)
    log(f"saved to {export}: pipeline('skeleton-understanding', model='{export}')")
    return {"top1": top1, "clips": clips, "folder": str(export), **({"open_vocabulary": split} if unseen else {}),
            **({"evaluation": evaluation} if evaluation is not None else {})}


