"""SkeletonLLM's four training stages as TRL ``SFTTrainer`` recipes.

==========  ==========================================  ==============================  ======
stage       data                                        trains                          epochs
==========  ==========================================  ==============================  ======
1 align     multiple choice over the seen labels        renderer + projector            1
2 discrim.  yes/no on confusable pairs                  renderer + projector            1
3 reason    teacher rationales + action name            renderer + projector + LoRA     1
4 refine    clip -> action name                         projector + LoRA (renderer      3
                                                        frozen)
==========  ==========================================  ==============================  ======

Stage 0 (not in the paper) trains everything once, for tiny VLMs built from a config that have never
seen language. In stages 1-4 the VLM's vision tower and language model stay frozen throughout; LoRA (r = 32, alpha = 64) sits on
the language model's ``q_proj`` / ``v_proj``. Optimiser defaults are the paper's: AdamW, lr 2e-5,
cosine schedule, warm-up 3 %, weight decay 0.05. On CPU, bf16 and gradient checkpointing (SFTConfig's
defaults) are turned off. ``accelerate launch`` runs the same code on several GPUs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch

from ..errors import SkeletonInputError
from ..processing.collators import SkeletonSFTCollator

LORA_TARGETS = r".*language_model.*\.(q_proj|v_proj)"


@dataclass(frozen=True)
class StageSpec:
    name: str
    train: tuple[str, ...]  # parameter groups of SkeletonLLMForConditionalGeneration.parameter_groups()
    lora: bool
    epochs: float
    description: str


STAGES: dict[int, StageSpec] = {
    0: StageSpec("warm-up-from-scratch", ("renderer", "projector", "vision", "language"), False, 1.0,
                 "not in the paper: trains the whole VLM on recognition text, for tiny VLMs built from a "
                 "config (no pretrained checkpoint offline) that must first learn the answer vocabulary"),
    1: StageSpec("alignment", ("renderer", "projector"), False, 1.0,
                 "alignment warm-up: multiple choice over seen labels, VLM frozen"),
    2: StageSpec("discriminative", ("renderer", "projector"), False, 1.0,
                 "discriminative fine-tuning: yes/no questions on confusable pairs"),
    3: StageSpec("reasoning", ("renderer", "projector"), True, 1.0,
                 "causal-reasoning distillation on teacher rationales"),
    4: StageSpec("refinement", ("projector",), True, 3.0,
                 "recognition refinement: renderer frozen, projector + LoRA"),
}


def stage_spec(stage: int) -> StageSpec:
    if stage not in STAGES:
        raise SkeletonInputError("stage", f"one of {sorted(STAGES)}", stage)
    return STAGES[stage]


def lora_config(r: int = 32, alpha: int = 64, dropout: float = 0.05):
    """PEFT LoRA on the language model's q_proj / v_proj (the paper's r = 32)."""
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS, bias="none")


def _base(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def prepare_model_for_stage(model, stage: int, lora: Any = None, groups: Sequence[str] | None = None):
    """Freeze / unfreeze for ``stage``; wraps the model with PEFT LoRA the first time a LoRA stage
    comes (``lora``: a ``LoraConfig``, default :func:`lora_config`). ``groups`` overrides the
    stage's trained parameter groups (e.g. an ablation with the renderer frozen). Returns the
    (possibly wrapped) model and a dict of trainable parameter counts."""
    spec = stage_spec(stage)
    if groups is not None:
        unknown = set(groups) - set(STAGES[0].train)
        if unknown:
            raise SkeletonInputError("groups", f"names from {STAGES[0].train}", sorted(unknown))
        spec = StageSpec(spec.name, tuple(groups), spec.lora, spec.epochs, spec.description)
    # LoRA layers already in the model: a PEFT model, one unwrapped (unwrap_peft), or a reload (config.lora)
    if spec.lora and not hasattr(model, "peft_config") and not getattr(_base(model).config, "lora", None):
        from peft import get_peft_model

        model = get_peft_model(model, lora or lora_config())
    base = _base(model)
    for name, param in base.named_parameters():
        is_lora = "lora_" in name
        param.requires_grad_(spec.lora if is_lora else False)
    groups = base.parameter_groups()
    for group in spec.train:
        for name, param in groups[group]:
            if "lora_" not in name:
                param.requires_grad_(True)
    counts = {g: sum(p.numel() for n, p in params if p.requires_grad and "lora_" not in n)
              for g, params in groups.items()}
    counts["lora"] = sum(p.numel() for n, p in base.named_parameters() if "lora_" in n and p.requires_grad)
    return model, counts


def stage_config(stage: int, output_dir: str, **overrides: Any):
    """``SFTConfig`` with the paper's optimiser settings, the stage's epochs and what custom skeleton
    tensors need (no column removal, no dataset preparation); CPU-safe precision defaults."""
    from trl import SFTConfig

    spec = stage_spec(stage)
    cuda = torch.cuda.is_available()
    values: dict[str, Any] = dict(
        output_dir=output_dir, num_train_epochs=spec.epochs, learning_rate=2e-5, lr_scheduler_type="cosine",
        warmup_steps=0.03, weight_decay=0.05, per_device_train_batch_size=4, logging_steps=1,
        save_strategy="no", report_to=[], remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True}, bf16=cuda and torch.cuda.is_bf16_supported(),
        activation_checkpointing=False, use_cpu=not cuda, dataloader_num_workers=0, seed=0,
    )
    values.update(overrides)
    return SFTConfig(**values)


class IndexedClipCollator:
    """Collates rows ``{"clip": int, "prompt", "answer"}`` of a ``datasets.Dataset`` by looking the
    clip up in an in-memory list (so SkeletonSequences need no serialisation)."""

    def __init__(self, collator: SkeletonSFTCollator, clips: Sequence[Any]):
        self.collator, self.clips = collator, list(clips)

    def __call__(self, rows: Sequence[Mapping[str, Any]]):
        return self.collator([{"skeleton": self.clips[int(r["clip"])], "prompt": r["prompt"], "answer": r["answer"]}
                              for r in rows])


def examples_to_dataset(examples: Sequence[Mapping[str, Any]]):
    """Examples ``{"skeleton", "prompt", "answer"}`` -> (``datasets.Dataset`` of indices and texts, clips)."""
    from datasets import Dataset

    if not examples:
        raise SkeletonInputError("examples", "at least one example", 0)
    clips = [ex["skeleton"] for ex in examples]
    data = Dataset.from_dict({"clip": list(range(len(examples))), "prompt": [str(ex["prompt"]) for ex in examples],
                              "answer": [str(ex["answer"]) for ex in examples]})
    return data, clips


def train_stage(model, processor, examples: Sequence[Mapping[str, Any]], stage: int, output_dir: str, *,
                lora: Any = None, groups: Sequence[str] | None = None, callbacks: Sequence[Any] = (),
                augment: Mapping[str, Any] | None = None, resume_from_checkpoint: str | bool | None = None,
                **config_overrides: Any):
    """Run one stage with ``trl.SFTTrainer``. Returns ``(model, trainer)``; ``model`` may come back
    wrapped by PEFT (stages 3 and 4). Losses are in ``trainer.state.log_history``.

    ``augment``: training augmentation of the normalised clips (see
    :class:`~hf_skeleton.training.collators.SkeletonSFTCollator`), seeded from the run's ``seed``.
    ``resume_from_checkpoint``: a ``checkpoint-N`` folder (or True: the last one in ``output_dir``) written
    with ``save_strategy="steps"``; checkpoints hold every trainable parameter and the augmentation seeds
    continue, so the resumed stage ends where an uninterrupted one does
    (:func:`~hf_skeleton.training.recipe_progress.resumable`)."""
    from trl import SFTTrainer

    from .recipe_progress import batch_counter_callback, resumable

    model, counts = prepare_model_for_stage(model, stage, lora, groups)
    if not any(counts.values()):
        raise SkeletonInputError("stage", "a stage with trainable parameters", counts)
    dataset, clips = examples_to_dataset(examples)
    args = stage_config(stage, output_dir, **config_overrides)
    collator = IndexedClipCollator(SkeletonSFTCollator(processor, augment=augment, seed=args.seed), clips)
    trainer = resumable(SFTTrainer)(model=model, args=args, train_dataset=dataset, processing_class=processor,
                                    data_collator=collator,
                                    callbacks=list(callbacks) + [batch_counter_callback(collator)])
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    return model, trainer


def stage_losses(trainer) -> list[float]:
    """Training losses logged by ``trainer`` (one per logging step)."""
    return [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
