"""LLaMo's two training stages on TRL's SFTTrainer, instruction templates and a video-aware collator.

Stage 1 (alignment): the LLM and the video tower are frozen; the motion/video projectors and the
cross-attention fusion learn to map encoder features into the LLM's embedding space. The paper
aligns with frozen encoders; no pretrained motion encoder exists in this stack, so by default the
motion encoder trains with the projectors in stage 1 (``train_motion_encoder=False`` gives the
frozen-encoder variant). Stage 2 (instruction tuning): projectors, fusion and motion encoder stay
trainable and the LLM is tuned with LoRA on ``q_proj``/``v_proj`` (or fully). The video tower stays
frozen in both stages, as in LLaVA-style training.

Tasks: motion captioning, action recognition and question answering, each with several
instruction templates (:data:`INSTRUCTION_TEMPLATES`).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..errors import SkeletonInputError
from ..processing.collators import SkeletonSFTCollator, chat_prompt
from ..skeletons.formats import format_for_config
from ..skeletons.sequence import SkeletonSequence

INSTRUCTION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "captioning": (
        "Describe the motion.",
        "What is the person doing in this clip? Describe it in one sentence.",
        "Give a short description of the movement.",
    ),
    "recognition": (
        "What action is the person doing? Answer with the action name.",
        "Name the action shown in the motion.",
        "Which action is this?",
    ),
    # question answering: "{label}" is filled with a candidate action; the answer is yes or no,
    # or the question asks for the body part that moves most (answered from the motion itself)
    "qa_verify": (
        "Is the person doing the action {label}? Answer yes or no.",
        "Does this motion show {label}? Answer yes or no.",
    ),
    "qa_body_part": (
        "Which body part moves the most?",
        "Which part of the body is most active in this motion?",
    ),
}

STAGES = (1, 2)
PART_PHRASES = {"torso": "the torso", "left_arm": "the left arm", "right_arm": "the right arm",
                "left_leg": "the left leg", "right_leg": "the right leg", "body": "the body"}


# ---------------------------------------------------------------------- instruction data
def most_active_part(seq: SkeletonSequence) -> str:
    """Body part of the format with the largest mean joint speed (observed joints, person 0)."""
    pos, mask = seq.positions[:, 0], seq.mask[:, 0]
    if len(pos) < 2:
        return "body"
    both = mask[1:] & mask[:-1]
    speed = np.where(both, np.linalg.norm(pos[1:] - pos[:-1], axis=-1), 0.0)
    parts = seq.format.parts or {"body": tuple(range(seq.num_joints))}
    best, best_v = "body", -1.0
    for name, ids in parts.items():
        ids = list(ids)
        n = both[:, ids].sum()
        v = speed[:, ids].sum() / n if n else 0.0
        if v > best_v:
            best, best_v = name, v
    return best


def build_examples(sequences: Sequence[Any], task: str, *, labels: Sequence[str] | None = None,
                   captions: Sequence[str] | None = None, videos: Sequence[Any] | None = None,
                   candidate_labels: Sequence[str] | None = None, seed: int = 0,
                   templates: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """Instruction examples ``{"skeleton", "prompt", "answer"[, "video"]}`` for one task.

    Args:
        sequences: clips (SkeletonSequence or arrays).
        task: ``"captioning"`` (needs ``captions``), ``"recognition"`` (needs ``labels``),
            ``"qa_verify"`` (needs ``labels`` and ``candidate_labels``: half the questions ask about
            the true label, half about another one) or ``"qa_body_part"`` (answer from the motion).
        videos: optional video per clip (path or frames), stored under ``"video"``.
        seed: picks templates (and the distractor labels) reproducibly.
    """
    templates = dict(INSTRUCTION_TEMPLATES, **(templates or {}))
    if task not in templates:
        raise SkeletonInputError("task", f"one of {sorted(templates)}", task)
    need = {"captioning": captions, "recognition": labels, "qa_verify": labels}
    if task in need and need[task] is None:
        raise SkeletonInputError(task, "captions" if task == "captioning" else "labels", None)
    for name, values in (("labels", labels), ("captions", captions), ("videos", videos)):
        if values is not None and len(values) != len(sequences):
            raise SkeletonInputError(name, f"one per clip ({len(sequences)})", len(values))
    rng = np.random.default_rng(seed)
    out = []
    for i, seq in enumerate(sequences):
        prompt = templates[task][int(rng.integers(len(templates[task])))]
        if task == "captioning":
            answer = str(captions[i])
        elif task == "recognition":
            answer = str(labels[i])
        elif task == "qa_verify":
            pool = [c for c in (candidate_labels or []) if c != labels[i]]
            if not pool:
                raise SkeletonInputError("candidate_labels", "at least one label besides the true one", candidate_labels)
            truthful = bool(rng.integers(2))
            asked = labels[i] if truthful else pool[int(rng.integers(len(pool)))]
            prompt, answer = prompt.format(label=asked), "yes" if truthful else "no"
        else:
            if not isinstance(seq, SkeletonSequence):
                raise SkeletonInputError(f"sequences[{i}]", "a SkeletonSequence (body parts come from its format)",
                                         type(seq).__name__)
            answer = PART_PHRASES.get(most_active_part(seq), most_active_part(seq).replace("_", " "))
        ex = {"skeleton": seq, "prompt": prompt, "answer": answer}
        if videos is not None:
            ex["video"] = videos[i]
        out.append(ex)
    return out


class LlamoSFTCollator(SkeletonSFTCollator):
    """The shared :class:`SkeletonSFTCollator` (an optional ``"video"`` per example goes to the
    processor, which puts ``<video>`` right before ``<motion>`` in the user turn) with seeded random
    frame sampling for training (``video_seed``; ``None`` samples uniformly)."""

    def __init__(self, processor: Any, *, video_seed: int | None = None, **kwargs: Any):
        super().__init__(processor, **kwargs)
        self.video_seed = video_seed
        self._calls = 0

    def __call__(self, examples: Sequence[Mapping[str, Any]]):
        if self.video_seed is not None:  # new frames every batch, reproducible from the seed
            self.processor_kwargs["video_seed"] = self.video_seed + self._calls
            self._calls += 1
        return super().__call__(examples)


# ---------------------------------------------------------------------- stages
def configure_stage(model, stage: int, *, train_motion_encoder: bool = True, lora: bool = True, lora_r: int = 16,
                    lora_alpha: int = 32, lora_dropout: float = 0.05):
    """Set what trains in ``stage`` (1: alignment, 2: instruction tuning) and return the model to train.

    Stage 2 with ``lora=True`` returns a PEFT model (LoRA on the language model's ``q_proj`` and
    ``v_proj``); the multimodal modules stay fully trainable. Merge with ``merge_and_unload()``
    before ``save_pretrained`` to get a plain LLaMo folder.
    """
    if stage not in STAGES:
        raise SkeletonInputError("stage", f"one of {STAGES}", stage)
    base = model.model if hasattr(model, "model") and hasattr(model.model, "motion_encoder") else None
    if base is None:
        raise SkeletonInputError("model", "a LlamoForConditionalGeneration", type(model).__name__)
    model.requires_grad_(False)
    if stage == 2 and lora and getattr(model.config, "lora", None):  # adapters already in the model (a reload)
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.requires_grad_(True)
    elif stage == 2 and lora:
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, bias="none",
                         target_modules=r".*language_model.*\.(q_proj|v_proj)", task_type="CAUSAL_LM")
        model = get_peft_model(model, cfg)
    elif stage == 2:
        base.language_model.requires_grad_(True)
        model.lm_head.requires_grad_(True)
    trainable = [base.motion_projector, base.video_projector, base.fusion]
    if stage == 2 or train_motion_encoder:
        trainable.append(base.motion_encoder)
    for module in trainable:
        if module is not None:
            module.requires_grad_(True)
    return model


def stage_sft_config(output_dir: str, stage: int, **overrides: Any):
    """The SFTConfig recipe of a stage (LLaVA-1.5 schedule: stage 1 lr 1e-3, stage 2 lr 2e-4 with
    LoRA (2e-5 for full tuning: pass ``learning_rate``); cosine, warm-up 3 %), CPU-safe: fp32, no
    activation checkpointing, custom tensors kept (``remove_unused_columns=False``)."""
    from trl import SFTConfig

    if stage not in STAGES:
        raise SkeletonInputError("stage", f"one of {STAGES}", stage)
    args = dict(output_dir=output_dir, learning_rate=1e-3 if stage == 1 else 2e-4, lr_scheduler_type="cosine",
                warmup_steps=0.03, weight_decay=0.0, num_train_epochs=1, per_device_train_batch_size=8,
                logging_steps=10, save_strategy="no", report_to=[], remove_unused_columns=False,
                dataset_kwargs={"skip_prepare_dataset": True}, bf16=False, fp16=False,
                activation_checkpointing=False, dataloader_pin_memory=False, dataloader_num_workers=0, seed=0)
    args.update(overrides)
    return SFTConfig(**args)


def to_sft_dataset(examples: Iterable[Mapping[str, Any]], skeleton_format: Any = None):
    """Examples -> a ``datasets.Dataset`` (what SFTTrainer accepts), numpy-formatted.

    Clips are stored as ``Array3D((None, J, 3), float32)`` of person 0 with NaN on untracked joints
    (the processor rebuilds the mask from finiteness); videos, when present, as decoded uint8 frames
    ``Array4D((None, H, W, 3))``. ``skeleton_format`` names the format of bare-array clips.
    """
    from datasets import Array3D, Array4D, Dataset, Features, Value

    rows, fmt, frame_shape = [], None, None
    for i, ex in enumerate(examples):
        seq = ex["skeleton"]
        if isinstance(seq, SkeletonSequence):
            if fmt is not None and seq.format != fmt:
                raise SkeletonInputError(f"examples[{i}]", f"clips of one format ({fmt.name})", seq.format.name)
            fmt = seq.format
            arr = seq.positions[:, 0].copy()
            arr[~seq.mask[:, 0]] = np.nan
        else:
            arr = np.asarray(seq, dtype=np.float32)
        row = {"skeleton": arr.astype(np.float32), "prompt": str(ex["prompt"]), "answer": str(ex["answer"])}
        if ex.get("video") is not None:
            video = np.asarray(ex["video"], dtype=np.uint8)
            if video.ndim != 4 or (frame_shape is not None and video.shape[1:] != frame_shape):
                raise SkeletonInputError(f"examples[{i}]['video']", "decoded frames (N, H, W, 3) of one size",
                                         video.shape)
            frame_shape = video.shape[1:]
            row["video"] = video
        rows.append(row)
    if not rows:
        raise SkeletonInputError("examples", "at least one training example", 0)
    J = rows[0]["skeleton"].shape[1]
    feats = {"skeleton": Array3D(shape=(None, J, 3), dtype="float32"), "prompt": Value("string"),
             "answer": Value("string")}
    if frame_shape is not None:
        if any("video" not in r for r in rows):
            raise SkeletonInputError("examples", "a video for every example, or for none", None)
        feats["video"] = Array4D(shape=(None,) + tuple(int(v) for v in frame_shape), dtype="uint8")
    ds = Dataset.from_list(rows, features=Features(feats)).with_format("numpy")
    fmt_name = fmt.name if fmt is not None else skeleton_format
    ds.info.description = f"skeleton format: {fmt_name}"
    return ds, (fmt if fmt is not None else skeleton_format)


def train_stage(model, processor, examples: Iterable[Mapping[str, Any]], stage: int, output_dir: str, *,
                train_motion_encoder: bool = True, lora: bool = True, collator_kwargs: Mapping[str, Any] | None = None,
                resume_from_checkpoint: str | bool | None = None, callbacks: Sequence[Any] | None = None,
                **sft_overrides: Any):
    """Run one stage with SFTTrainer; returns ``(trained model, trainer)``.

    ``examples`` come from :func:`build_examples` (several tasks may be concatenated), or are the
    ``(dataset, format)`` pair of :func:`to_sft_dataset` (build it once to reuse it across stages).
    The model returned is the PEFT wrapper in LoRA stage 2.

    ``resume_from_checkpoint``: a ``checkpoint-N`` folder (or True: the last one in ``output_dir``) written by
    this function with ``save_strategy="steps"``; its checkpoints hold every trainable parameter (the
    projectors beside the LoRA adapters) and the collator's seeds continue where they stopped, so the
    resumed stage ends where an uninterrupted one does
    (:func:`~hf_skeleton.training.recipe_progress.resumable`).
    """
    from trl import SFTTrainer

    from .recipe_progress import batch_counter_callback, resumable

    data, fmt = examples if isinstance(examples, tuple) else to_sft_dataset(examples)
    collator_kwargs = dict(collator_kwargs or {})
    if fmt is not None:  # a registered format by name, a user-defined one (FORMAT.json) by its definition
        collator_kwargs.setdefault("skeleton_format", format_for_config(fmt))
    model = configure_stage(model, stage, train_motion_encoder=train_motion_encoder, lora=lora)
    collator = LlamoSFTCollator(processor, **collator_kwargs)
    trainer = resumable(SFTTrainer)(model=model, args=stage_sft_config(output_dir, stage, **sft_overrides),
                                    train_dataset=data, data_collator=collator, processing_class=processor,
                                    callbacks=list(callbacks or []) + [batch_counter_callback(collator)])
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    return model, trainer


def generation_prompts(processor: Any, prompt: str, n: int, *, with_video: bool = False) -> list[str]:
    """``n`` copies of the chat prompt used at training time (for ``generate``)."""
    lead = f"{processor.video_token}{processor.motion_token}\n" if with_video else ""
    return [chat_prompt(processor, lead + prompt)] * n
