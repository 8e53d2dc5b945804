"""The VGMT training recipe: transformers.Trainer with the paper's optimiser settings.

AdamW at 2e-4 as released, but with a schedule that actually steps (the authors' never does), atomic
checkpoints, and ``remove_unused_columns=False`` so ``skeletons``/``pixel_values``/``joints_2d``
reach the model.
"""

from __future__ import annotations

from typing import Any

from transformers import Trainer, TrainingArguments

from .checkpointing import atomic

VGMTTrainer = atomic(Trainer)


def vgmt_training_args(output_dir: str, *, max_steps: int, batch_size: int = 32, learning_rate: float = 2e-4,
                       seed: int = 0, **overrides: Any) -> TrainingArguments:
    """TrainingArguments for VGMT (CPU-safe: no bf16 unless asked)."""
    values = dict(output_dir=str(output_dir), max_steps=max_steps, per_device_train_batch_size=batch_size,
                  learning_rate=learning_rate, optim="adamw_torch", lr_scheduler_type="cosine",
                  warmup_steps=max(1, max_steps // 50), weight_decay=0.0, logging_steps=max(1, max_steps // 20),
                  save_strategy="no", report_to="none", seed=seed, data_seed=seed, dataloader_num_workers=0,
                  remove_unused_columns=False)
    values.update(overrides)
    return TrainingArguments(**values)


def vgmt_trainer(model, train_dataset, args: TrainingArguments, eval_dataset=None, **kwargs: Any) -> Trainer:
    """A Trainer for VGMT; its eval loss is the model's reconstruction + commitment loss."""
    return VGMTTrainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset, **kwargs)
