"""The SkeletonLLM recipe: the paper's four stages on real clips, a view-3 evaluation, a folder; or the same
stages on any converted dataset (``--dataset DIR_OR_HUB_ID``, :mod:`~hf_skeleton.training.recipe_data`: its
label names are the answers, confusable pairs come from label similarity, its captions are the rationales
where it has them), evaluated on its ``--eval-split`` with
:func:`~hf_skeleton.evaluation.dataset_eval.evaluate_dataset`.

Shared by ``examples/train_skeleton_llm.py``, ``hf-skeleton train skeleton-llm`` and
:func:`~hf_skeleton.training.train_skeleton_llm` (same options, same code). The default VLM is composed from two pretrained backbones that install offline
(EfficientNet-Lite0 -> 2 x 2 tokens per frame -> projector -> SmolLM2-135M-Instruct; 8 frames rendered
and read at 112 px, upright view alignment); ``--vision-model none --text-model none`` builds the tiny
random Qwen2.5-VL of the tests; ``--base NAME_OR_FOLDER_OR_HUB_ID`` names the model to fine-tune
whatever it is (:mod:`~hf_skeleton.training.base_model`): a VLM fills ``--vlm``, a causal LM ``--text-model``
(composed with ``--vision-model``). A dataset without labels (captioning only) is refused with a typed error:
every stage below asks about labels. Stages (:mod:`hf_skeleton.training.skeleton_llm_stages`, each a
``trl.SFTTrainer`` run):

- 0 (tiny VLM only, not in the paper): the whole model on the texts of all stages, so a random VLM
  learns the answer vocabulary;
- 1 alignment warm-up, multiple choice over the seen labels: renderer + projector;
- 2 yes/no on confusable pairs (the shipped N-UCLA table): renderer + projector;
- 3 rationales from a teacher (the data-driven kinematic teacher; pass any HF model or function to
  :class:`~hf_skeleton.training.rationales.RationaleBuilder`), cached as JSONL: renderer + projector
  + LoRA (r=16 by default, the paper's 32 with ``--lora-r 32``);
- 4 recognition refinement: projector + LoRA, renderer frozen.

Before and after every stage the stage's loss on (``--loss-probe``) of its own examples is logged
(eval mode, deterministic frames).

Runs are resumable (:mod:`~hf_skeleton.training.recipe_progress`): the phases (rationale generation, the
projector warm-up, each stage) are recorded in ``OUTPUT_DIR/recipe_state.json``, the model and processor saved
after each (LoRA unmerged, ``config.lora``), a checkpoint written every ``--save-steps`` steps of a stage.
``--resume`` reloads the last finished phase, skips the finished ones (their losses come from the record),
reads the rationales back from their cache and continues an unfinished stage from its last checkpoint,
ending with the weights of an uninterrupted run; a changed config is refused
(:class:`~hf_skeleton.training.recipe_progress.RecipeResumeError`). At the end LoRA stays unmerged (``config.lora``); the model, processor, ``results.json``,
``eval_results.json`` (the ``nucla-view3`` protocol of ``hf-skeleton evaluate``) and a model card
are written, and the ``skeleton-understanding`` pipeline reloads the folder.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from ..backbone_weights import unwrap_peft
from ..cards import write_model_card, write_results
from ..data import action_labels, confusable_pairs, open_vocab_names, open_vocab_split
from ..errors import HFSkeletonError, SkeletonInputError
from ..evaluation.protocols import load_protocol_clips, open_vocabulary_protocol, recognition_protocol
from ..processing.collators import SkeletonSFTCollator
from ..skeletons.formats import get_format
from ..skeletons.geometry import supported_view_alignment
from ..skeletons.io import load_skeleton
from .base_model import base_kind, conflict, refuse
from .confusable_pairs import (
    multiple_choice_examples,
    named_pairs,
    pairs_from_label_similarity,
    recognition_examples,
    yes_no_examples,
)
from .projector_warmup import warm_up_projector
from .rationales import RationaleBuilder, kinematic_teacher, rationale_examples
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
from .skeleton_llm_stages import STAGES, lora_config, train_stage

logger = logging.getLogger(__name__)

NAMES = action_labels("nucla")
PROTOCOL = "nucla-view3"


@dataclass
class SkeletonLLMRecipeConfig(ResumeOptions, DatasetOptions):
    """Options of the SkeletonLLM recipe (``hf-skeleton train skeleton-llm --help`` lists them): N-UCLA by
    default, or ``dataset`` with its split and column options
    (:class:`~hf_skeleton.training.recipe_data.DatasetOptions`)."""

    data: Path | None = field(default=None, metadata={"help": "folder holding nw_ucla/all_sqe (default: ../shared/data)"})
    output_dir: Path = Path("skeleton-llm-nucla")
    export_dir: Path | None = field(default=None, metadata={
        "help": "write the final model, processor, results and card here (default: --output-dir)"})
    base: str | None = field(default=None, metadata={
        "help": "the model to fine-tune: a VLM (folder or Hub id; fills --vlm) or a causal LM (backbone name, "
                "folder or Hub id; fills --text-model, composed with --vision-model); 'none': the tiny test VLM"})
    vlm: str | None = field(default=None, metadata={
        "help": "a pretrained VLM id or folder (default: a tiny random Qwen2.5-VL)"})
    vision_model: str | None = field(default="efficientnet-lite0", metadata={
        "help": "with --text-model: compose the VLM from a pretrained vision backbone (a backbone name such "
                "as efficientnet-lite0, a folder or a Hub id) and a pretrained LLM"})
    text_model: str | None = field(default="smollm2-135m-instruct", metadata={
        "help": "the composed VLM's language model; 'none' (with --vision-model none): a tiny random "
                "Qwen2.5-VL trained from scratch (a test fixture)"})
    token_grid: int = field(default=2, metadata={"help": "composed VLM: g x g visual tokens per frame"})
    tower_size: int | None = field(default=112, metadata={
        "help": "composed VLM: the square size the vision tower reads (default: its own, 224)"})
    align_view: Literal["none", "facing", "upright"] = field(default="upright", metadata={
        "help": "view normalisation of every clip (processor); upright also removes the camera tilt"})
    augment_angle: float = field(default=0.0, metadata={"help": "training yaw augmentation (degrees, 0: off)"})
    augment_tilt: float = field(default=0.0, metadata={"help": "training tilt augmentation (degrees)"})
    per_class: int = field(default=0, metadata={"help": "training clips per action (views 1-2; 0: all of them)"})
    frames: int = 8
    size: int = 112
    epochs: list[float] = field(default_factory=lambda: [1, 1, 0.5, 0.5, 1.5], metadata={
        "help": "epochs of stages 0-4 (stage 0 runs for a tiny VLM from scratch only)"})
    lr: list[float] = field(default_factory=lambda: [3e-3, 1e-3, 1e-3, 2e-4, 2e-4], metadata={
        "help": "learning rates of stages 0-4 (the paper's 2e-5 is for an 8B VLM whose projector is "
                "pretrained; ours starts from scratch)"})
    batch_size: int = 8
    projector_warmup_epochs: int = field(default=30, metadata={
        "help": "composed VLM: epochs of projector warm-up on the frozen tower's features of the training clips "
                "(projector -> GRU -> linear head, cross-entropy) before stage 1 (0: off)"})
    projector_warmup_lr: float = 1e-3
    replay_rationales: float = field(default=0.25, metadata={
        "help": "stage 4: replay this fraction of stage 3's rationale examples beside the action names, so "
                "that refinement keeps the describing answers (0: names only)"})
    loss_probe: int = field(default=64, metadata={
        "help": "measure each stage's loss before/after on N of its examples, evenly spaced (0: all)"})
    freeze_renderer: bool = field(default=False, metadata={
        "help": "ablation: DrAction stays as initialised in every stage (the paper's learnable-vs-frozen study)"})
    lora_r: int = field(default=16, metadata={
        "help": "LoRA rank of stages 3-4, alpha = 2 r (the paper's 32; 16 keeps the embedded models within 25 MB)"})
    eval_clips: int = field(default=0, metadata={"help": "evaluate on the first N view-3 clips (0: all 464)"})
    unseen_split: str | None = field(default=None, metadata={
        "help": "open-vocabulary run: train on the seen classes of a shipped N-UCLA split (8/2-seed0, "
                "8/2-seed1, 8/2-seed2) and score view-3 clips of its unseen classes against the unseen names"})

    def __post_init__(self):
        for name in ("vision_model", "text_model"):
            if isinstance(getattr(self, name), str) and getattr(self, name).lower() in ("", "none"):
                setattr(self, name, None)
        if self.base is not None:
            self._fill_from_base()
        if str(self.label_column or "").lower() in ("", "none"):
            raise needs_labels(type(self).__name__, "--label-column none")
        if self.vlm:  # a whole pretrained VLM replaces the composed one
            self.vision_model = self.text_model = None
        self.output_dir = Path(self.output_dir)
        self.data = None if self.data is None else Path(self.data)
        self.export_dir = None if self.export_dir is None else Path(self.export_dir)
        require(self, positive=("frames", "size", "batch_size", "token_grid", "lora_r"),
                non_negative=("per_class", "eval_clips", "augment_angle", "augment_tilt", "loss_probe",
                              "projector_warmup_epochs", "replay_rationales", "save_steps"),
                lengths={"epochs": 5, "lr": 5})
        if self.replay_rationales > 1:
            raise SkeletonInputError("SkeletonLLMRecipeConfig.replay_rationales", "a fraction in [0, 1]",
                                     self.replay_rationales)
        if self.unseen_split:
            open_vocab_split("nucla", self.unseen_split)  # a typed error for an unknown split
        if bool(self.vision_model) != bool(self.text_model):
            raise SkeletonInputError("SkeletonLLMRecipeConfig.vision_model/text_model", "both or neither",
                                     (self.vision_model, self.text_model))

    def _fill_from_base(self) -> None:
        """``base`` -> ``vlm`` (a VLM), ``text_model`` (a causal LM, composed with ``vision_model``) or the tiny
        VLM ("none") (:mod:`~hf_skeleton.training.base_model`); a different value given beside it is a typed
        error."""
        name = type(self).__name__
        kind, model_type = base_kind(self.base)
        default = type(self).__dataclass_fields__["text_model"].default
        if kind == "vlm":
            if self.vlm not in (None, self.base):
                raise conflict(name, "vlm", self.base, self.vlm)
            if self.text_model not in (default, None):
                raise conflict(name, "text_model", self.base, self.text_model)
            self.vlm = self.base
        elif kind in ("causal-lm", "none"):
            if self.vlm is not None:
                raise conflict(name, "vlm", self.base, self.vlm)
            text_model = None if kind == "none" else self.base
            if self.text_model not in (default, text_model):
                raise conflict(name, "text_model", self.base, self.text_model)
            self.text_model = text_model
            if kind == "none":
                self.vision_model = None
        else:
            raise refuse(name, self.base, kind, model_type, "a VLM (image-text-to-text) or a causal language model "
                         "to compose with --vision-model" + ("; a saved SkeletonLLM cannot be a base yet"
                                                              if kind == "skeleton_llm" else ""))

    @property
    def pretrained(self) -> bool:
        return bool(self.vlm or self.text_model)


RECIPE_CONFIG = SkeletonLLMRecipeConfig  # what the CLI parses for this recipe


def needs_labels(config_name: str, found: str) -> SkeletonInputError:
    """The typed error for a dataset without labels (captioning only)."""
    return SkeletonInputError(f"{config_name}.label_column", "a dataset with class labels: SkeletonLLM's stages are "
                              "multiple choice over the labels, yes/no on confusable labels and recognition "
                              "(`hf-skeleton train llamo` trains on captions alone)", found)


def data_dir(args: "SkeletonLLMRecipeConfig") -> Path:
    if args.data:
        return Path(args.data)
    from ..data.discovery import find_data_dir

    found = find_data_dir("nw_ucla/all_sqe")
    if found is None:
        raise HFSkeletonError("no data folder found: pass --data pointing at the folder that holds nw_ucla/")
    return found


def nucla_clips(data: Path, per_class: int, views=("v01", "v02")):
    """The first ``per_class`` clips of every action from ``views`` (0: all), and their label names."""
    by_class = defaultdict(list)
    for f in sorted((data / "nw_ucla" / "all_sqe").glob("*.json")):
        if f.stem[-3:] in views and (not per_class or len(by_class[f.name[:3]]) < per_class):
            by_class[f.name[:3]].append(f)
    if not by_class:
        raise HFSkeletonError(f"no N-UCLA clips of views {views} under {data / 'nw_ucla' / 'all_sqe'}: pass --data")
    clips = [load_skeleton(f) for fs in by_class.values() for f in fs]
    return clips, [c.meta["label_name"] for c in clips]


def nucla_data(args: "SkeletonLLMRecipeConfig") -> RecipeData:
    """The recipe's own data: the ``per_class`` first clips of each action from views 1-2, the N-UCLA names
    (view 3 is read for the evaluation, :data:`PROTOCOL`)."""
    clips, labels = nucla_clips(data_dir(args), args.per_class)
    return RecipeData(train=clips, labels=labels, names=list(NAMES.values()), format=get_format("kinect_v1"))


def build_model(args: "SkeletonLLMRecipeConfig", names: list[str], format: Any = "kinect_v1"):
    """A SkeletonLLM and its processor for clips of skeleton ``format``: composed from ``--vision-model`` +
    ``--text-model`` (pretrained backbones), from ``--vlm`` (a pretrained VLM checkpoint) or a tiny random
    Qwen2.5-VL. ``args.align_view`` is lowered to the strongest alignment the format allows."""
    from ..models.draction import DrActionConfig
    from ..models.skeleton_llm import (
        SkeletonLLMConfig,
        SkeletonLLMForConditionalGeneration,
        SkeletonLLMProcessor,
    )

    align_view = supported_view_alignment(get_format(format), args.align_view)
    if args.text_model:
        draction = DrActionConfig(format=format, num_frames=args.frames, image_size=args.size)
        model, processor = SkeletonLLMForConditionalGeneration.from_backbones(
            args.vision_model, args.text_model, draction, token_grid=args.token_grid, image_size=args.tower_size)
        return model, SkeletonLLMProcessor.from_model_config(model.config, processor.tokenizer,
                                                             align_view=align_view)
    if args.vlm:
        from transformers import AutoTokenizer

        model = SkeletonLLMForConditionalGeneration.from_backbone_pretrained(
            args.vlm, draction_config=DrActionConfig(format=format, num_frames=args.frames, image_size=args.size))
        tokenizer = AutoTokenizer.from_pretrained(args.vlm)
        tokenizer.add_special_tokens({"additional_special_tokens": [model.config.skeleton_token]})
        # grow only: published vocabularies are padded (Qwen2.5-VL: 152,064 rows for 151,665 tokens), and
        # resizing to len(tokenizer) would drop the padding rows and the config's vocab_size with them
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer))
        return model, SkeletonLLMProcessor.from_model_config(model.config, tokenizer)
    from ..testing import QWEN_VISION_TOKENS, build_tiny_tokenizer, tiny_qwen2_5_vl_config

    tokenizer = build_tiny_tokenizer(extra_texts=names, extra_special_tokens=QWEN_VISION_TOKENS + ("<skeleton>",))
    torch.manual_seed(0)
    # bigger Gaussians than the paper's metre-scale defaults so that 56 px frames show the limbs
    draction = DrActionConfig(format=format, num_frames=args.frames, image_size=args.size, backend="torch",
                              train_sampling="uniform", joint_scale_base=0.06, bone_scale_base=0.045,
                              joint_scale_clamp=(0.02, 0.08), bone_scale_clamp=(0.015, 0.07))
    config = SkeletonLLMConfig(draction, tiny_qwen2_5_vl_config(tokenizer))
    model = SkeletonLLMForConditionalGeneration(config)
    return model, SkeletonLLMProcessor.from_model_config(config, tokenizer)


def eval_loss(model, processor, examples, batch_size: int = 16) -> float:
    """Mean token loss of ``examples`` (eval mode: deterministic frames)."""
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


RATIONALES = "rationales"
WARMUP = "projector warm-up"


def run(args: SkeletonLLMRecipeConfig, command: str = "hf-skeleton train skeleton-llm",
        log: Callable[[str], Any] | None = None) -> dict:
    """Train through the stages, evaluate (N-UCLA view 3, or the dataset's ``eval_split`` with a confusion
    matrix), save the folder; return the results.
    ``args``: a :class:`SkeletonLLMRecipeConfig` (or parsed options with its fields)."""
    log = log or logger.info  # the CLI passes print
    args = as_config(SkeletonLLMRecipeConfig, args)
    from transformers import pipeline

    data = recipe_data(args, lambda: nucla_data(args), log=log)
    if data.captioning_only:
        raise needs_labels("SkeletonLLMRecipeConfig", f"{data.source}: no {args.label_column!r} column")
    names, clips, labels = data.names, data.train, data.labels
    seen, unseen = names, []
    if args.unseen_split:  # the unseen classes' clips and names never appear in training
        seen, unseen = open_vocab_names("nucla", args.unseen_split)
        kept = [i for i, y in enumerate(labels) if y in seen]
        clips, labels = [clips[i] for i in kept], [labels[i] for i in kept]
    out = Path(args.output_dir)
    stages = [1, 2, 3, 4] if args.pretrained else [0, 1, 2, 3, 4]
    warmup = bool(args.text_model and args.projector_warmup_epochs)
    plan = [Phase(RATIONALES, len(clips), "data")]
    if warmup:  # warm_up_projector's batches of 32
        plan.append(Phase(WARMUP, args.projector_warmup_epochs * max(1, len(clips) // min(32, len(clips))),
                          "warm-up"))

    if data.is_dataset:  # its captions where it has them, the kinematic teacher elsewhere
        keys = [f"{k}|{y}" for k, y in zip(data.keys, labels)]
        pairs = pairs_from_label_similarity(names, min_similarity=0.0)
    else:
        keys = None
        pairs = [p for p in named_pairs(confusable_pairs("nucla"), NAMES) if set(p) <= set(seen)]
    teacher = RationaleBuilder(kinematic_teacher, cache=out / "rationales.jsonl")
    stage_examples: dict[int, list] = {}

    def examples_of(rationales: list[str]) -> None:
        stage_examples.update({
            1: multiple_choice_examples(clips, labels, seen),
            2: yes_no_examples(clips, labels, pairs),
            3: rationale_examples(clips, labels, rationales),
            4: recognition_examples(clips, labels),
        })
        stage_examples[0] = [ex for k in (1, 2, 3, 4) for ex in stage_examples[k]]
        if args.replay_rationales:  # evenly spaced, so every class keeps some of its descriptions
            step = max(1, round(1 / args.replay_rationales))
            stage_examples[4] = stage_examples[4] + stage_examples[3][::step]

    def stage_steps(n: int, stage: int) -> int:  # the trainer's count: ceil(epochs x batches per epoch)
        return max(1, math.ceil(args.epochs[stage] * math.ceil(n / args.batch_size)))

    examples_of([""] * len(clips))  # the stages' sizes (they do not depend on the rationales' text)
    plan += [Phase(f"stage {k}", stage_steps(len(stage_examples[k]), k)) for k in stages]
    progress = RecipeProgress(out, args, plan, resume=args.resume, log=log)
    # the rationales: cached as JSONL, so a resumed run reads them back instead of generating them
    if not progress.done(RATIONALES):
        progress.start(RATIONALES)
    rationales = teacher(clips, labels, keys=keys)
    if data.is_dataset:
        rationales = [t if t.strip() else r for t, r in zip(data.texts or [""] * len(clips), rationales)]
    examples_of(rationales)
    if not progress.done(RATIONALES):
        progress.finish(RATIONALES, results={"clips": len(clips), "cache": str(out / "rationales.jsonl")})

    from ..models.skeleton_llm import SkeletonLLMForConditionalGeneration, SkeletonLLMProcessor

    restored = progress.restore(SkeletonLLMForConditionalGeneration, SkeletonLLMProcessor)
    if restored is not None:  # a resumed run: the model saved after its last finished phase
        model, processor = restored
    elif data.is_dataset:  # the dataset's format; a tiny VLM's tokenizer also learns its captions
        model, processor = build_model(args, names + [t for t in data.texts or [] if t], format=data.format)
        note = alignment_note(data.format, args.align_view, processor.align_view)
        if note:
            log(note)
    else:
        model, processor = build_model(args, names)
    augment = None
    if args.augment_angle or args.augment_tilt:
        augment = {"max_angle": args.augment_angle, "max_tilt": args.augment_tilt, "scale_range": (0.9, 1.1)}
    if warmup and not progress.done(WARMUP):
        def on_epoch(epoch: int, loss: float, head: Any) -> None:
            if epoch % 5 == 0 or epoch == args.projector_warmup_epochs:
                log(f"projector warm-up epoch {epoch}/{args.projector_warmup_epochs}: loss {loss:.3f}")

        progress.start(WARMUP)
        warm_up_projector(model, processor, clips, labels, epochs=args.projector_warmup_epochs,
                          lr=args.projector_warmup_lr, on_epoch=on_epoch)
        progress.finish(WARMUP, model, processor)
    losses = {}
    for stage in stages:
        name = f"stage {stage}"
        if progress.done(name):
            losses[stage] = progress.results(name)
            continue
        progress.start(name)
        examples = stage_examples[stage]
        probe = examples[::max(1, len(examples) // args.loss_probe)][:args.loss_probe] if args.loss_probe else examples
        before = eval_loss(model, processor, probe)
        groups = [g for g in STAGES[stage].train if g != "renderer"] if args.freeze_renderer else None
        checkpoints = args.checkpoint_options()
        model, _ = train_stage(model, processor, examples, stage, str(progress.checkpoints(name)), groups=groups,
                               learning_rate=args.lr[stage], num_train_epochs=args.epochs[stage],
                               per_device_train_batch_size=args.batch_size, logging_steps=5, augment=augment,
                               lora=lora_config(r=args.lora_r, alpha=2 * args.lora_r),
                               resume_from_checkpoint=progress.resume_checkpoint(name), **checkpoints)
        model = unwrap_peft(model)  # the adapters stay in the model (config.lora), as a reload rebuilds them
        after = eval_loss(model, processor, probe)
        spec = STAGES[stage]
        losses[stage] = {"name": spec.name, "trains": list(spec.train), "lora": spec.lora, "examples": len(examples),
                         "loss_before": round(before, 4), "loss_after": round(after, 4)}
        log(f"stage {stage} ({spec.name}; trains {', '.join(spec.train)}{' + LoRA' if spec.lora else ''}): "
            f"loss {before:.3f} -> {after:.3f} ({'falls' if after < before else 'DOES NOT FALL'})")
        progress.finish(name, model, processor, results=losses[stage])
    progress.end()
    model = unwrap_peft(model)  # adapters stay unmerged: a composed model's folder ships only what trained

    export = Path(args.export_dir or out)
    protocol, stored = PROTOCOL, None
    if data.is_dataset:  # its eval split, as `hf-skeleton evaluate --dataset` scores it
        evaluation, stored = ({}, {}) if data.eval_split is None else evaluate_recipe_data(
            model, processor, data, export, limit=args.eval_clips, batch_size=32, log=log)
        protocol = next(iter(stored), "no evaluation split")
    elif unseen:
        test = load_protocol_clips(PROTOCOL, data_dir(args), limit=args.eval_clips or None)
        protocol = f"{PROTOCOL} open-vocabulary {args.unseen_split}"
        evaluation = open_vocabulary_protocol(model, processor, test, seen, unseen, generate=True)
        for part in ("seen", "unseen", "all_names"):
            log(f"N-UCLA view 3, {part} ({evaluation[part]['clips']} clips): " + ", ".join(
                f"{k} {v:.4f}" for k, v in evaluation[part].items() if isinstance(v, float)))
    else:
        test = load_protocol_clips(PROTOCOL, data_dir(args), limit=args.eval_clips or None)
        evaluation = recognition_protocol(model, processor, test, names)
        log(f"N-UCLA view 3 ({len(test)} clips): " + ", ".join(
            f"{k} {v:.4f}" for k, v in evaluation.items() if isinstance(v, float)))
    model.save_pretrained(export)
    processor.save_pretrained(export)
    setup = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results = {"setup": setup, "train_clips": len(clips), "stages": losses, protocol: evaluation}
    write_results(export, stored if stored is not None else {protocol: evaluation}, training_command=command)
    vlm = (f"`{args.vlm}`" if args.vlm else f"`{args.vision_model}` + `{args.text_model}`" if args.text_model
           else "a tiny Qwen2.5-VL trained from scratch")
    trained_on = (f"{len(clips)} clips of {card_datasets(data)[0]} (its `{args.train_split}` split, "
                  f"{data.format.num_joints}-joint format `{data.format.name}`)." if data.is_dataset else
                  f"{len(clips)} N-UCLA clips of views 1 and 2"
                  + (f" (seen classes of the {args.unseen_split} split)." if unseen else "."))
    write_model_card(export, datasets=card_datasets(data), base_model=args.vlm,
                     description=f"A SkeletonLLM (DrAction renderer + {vlm}) trained through the paper's four "
                                 f"stages on {trained_on}")

    pipe = pipeline("skeleton-understanding", model=str(export))  # the folder reloads as a pipeline
    if data.is_dataset:  # its first evaluation clip (else its first training clip)
        from ..dataset_tools.features import example_to_sequence

        sample = (example_to_sequence(data.eval_split.with_format("numpy")[0]) if data.eval_split is not None
                  and len(data.eval_split) else clips[0])
        sample_name = str(sample.meta.get("id", "clip 0"))
    else:
        sample = str(min((data_dir(args) / "nw_ucla" / "all_sqe").glob("a05_*_v03.json")))
        sample_name = f"{Path(sample).name} (sit down)"
    ranked = pipe(sample, candidate_labels=names)[:3]
    text = pipe(sample, prompt="What is the person doing? Explain the movement, then give the action name.",
                max_new_tokens=24)["generated_text"]
    log(f"{sample_name}: {ranked}")
    log(f"description: {text!r}")
    results["sample"] = {"clip": sample_name.split(" (")[0], "top3": ranked, "description": text}
    (export / "results.json").write_text(json.dumps(results, indent=2))
    log(f"saved to {export}: pipeline('skeleton-understanding', model='{export}')")
    return {**results, "folder": str(export)}
