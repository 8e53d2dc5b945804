"""Superman's training side: a collator over task examples and an SFTTrainer recipe.

The examples come from :class:`~hf_skeleton.models.superman.processing_superman.SupermanTaskBuilder`.
All motion is tokenised by the model's VGMT in normalised coordinates (``normalize_motion``),
with the normalisation taken from what the task observes (the history for prediction, the keyframes
for in-betweening, the clip itself for estimation) so that a prediction can be mapped back to the
input's coordinates without peeking at the answer:

- ``estimate`` (Vid2Skel): video frames (T, H, W, 3) -> codes of the T-frame clip.
- ``predict`` (SkelPred): codes of T history frames -> codes of the next T frames.
- ``inbetween`` (MIB): codes of the first and last K frames (K = T / 4 by default, the missing half
  in the middle as in the Human-in-Context protocol) -> codes of the whole T-frame clip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import SkeletonInputError
from ..models.superman.processing_superman import (  # noqa: F401  (the builder moved next to its processor)
    TASK_NAMES,
    SupermanTaskBuilder,
    keyframe_count,
    normalize_like,
)
from ..processing.collators import build_labels
from ..skeletons.convert import CMU_CONVENTIONS, cmu_to_h36m  # noqa: F401  (a skeleton conversion)


class SupermanCollator:
    """Examples from :class:`SupermanTaskBuilder` (``prompt``, ``answer``, optional ``video``,
    ``keypoints_2d``) -> a batch with ``labels`` (-100 on prompt, vision placeholders and padding).

    Rows with and without video mix freely; ``keypoints_2d`` (MAFT) must be given for all video rows
    or none.
    """

    def __init__(self, processor):
        self.processor = processor

    def _encode(self, texts, examples):
        videos = [v for v in map(_field_video, examples) if v is not None]
        kps = [
            np.asarray(ex["keypoints_2d"], np.float32) for ex in examples if _present(ex.get("keypoints_2d"))
        ]
        kwargs: dict[str, Any] = {}
        if videos:
            kwargs["videos"] = videos
            if kps:
                if len(kps) != len(videos):
                    raise SkeletonInputError(
                        "keypoints_2d",
                        "2D detections for every video row or none",
                        f"{len(kps)} of {len(videos)}",
                    )
                kwargs["keypoints_2d"] = np.stack(kps)
                masks = [ex.get("keypoints_mask") for ex in examples if _field_video(ex) is not None]
                if all(_present(m) for m in masks):
                    kwargs["keypoints_mask"] = np.stack([np.asarray(m, bool) for m in masks])
        return self.processor(text=texts, return_tensors="pt", padding=True, **kwargs)

    def __call__(self, examples: Sequence[Mapping[str, Any]]):
        if not examples:
            raise SkeletonInputError("examples", "a non-empty list of examples", examples)
        for i, ex in enumerate(examples):
            if not isinstance(ex.get("prompt"), str) or not isinstance(ex.get("answer"), str):
                raise SkeletonInputError(f"examples[{i}]", "'prompt' and 'answer' strings", sorted(ex))
        eos = self.processor.tokenizer.eos_token or ""
        batch = self._encode([ex["prompt"] + ex["answer"] + eos for ex in examples], examples)
        prompts = self._encode([ex["prompt"] for ex in examples], examples)
        ignore = (self.processor.image_token_id, self.processor.video_token_id)
        batch["labels"] = build_labels(
            batch["input_ids"], batch["attention_mask"], prompts["attention_mask"].sum(-1), ignore
        )
        return batch


def _present(value) -> bool:
    """A field given for this row (datasets stores a missing array as None or NaN)."""
    return value is not None and np.ndim(value) > 0


def _field_video(ex: Mapping[str, Any]) -> np.ndarray | None:
    v = ex.get("video")
    return np.asarray(v).astype(np.uint8) if _present(v) else None


def examples_to_dataset(examples: Sequence[Mapping[str, Any]]):
    """A ``datasets.Dataset`` of the training fields (task, prompt, answer, optional video and 2D
    detections as fixed-size arrays) that :class:`SupermanCollator` reads back."""
    import datasets

    feats = {
        "task": datasets.Value("string"),
        "prompt": datasets.Value("string"),
        "answer": datasets.Value("string"),
    }
    videos = [np.asarray(ex["video"]) for ex in examples if _present(ex.get("video"))]
    if videos:
        shapes = {v.shape[1:] for v in videos}
        if len(shapes) != 1:
            raise SkeletonInputError("video", "frames of one size across the dataset", sorted(shapes))
        feats["video"] = datasets.Array4D(shape=(None, *shapes.pop()), dtype="uint8")
        kps = [np.asarray(ex["keypoints_2d"]) for ex in examples if _present(ex.get("keypoints_2d"))]
        if kps:
            feats["keypoints_2d"] = datasets.Array3D(shape=(None, *kps[0].shape[1:]), dtype="float32")
    rows = [{k: (ex.get(k) if k in ("video", "keypoints_2d") else ex[k]) for k in feats} for ex in examples]
    ds = datasets.Dataset.from_list(rows, features=datasets.Features(feats))
    array_cols = [k for k in ("video", "keypoints_2d") if k in feats]
    if array_cols:
        ds.set_format("numpy", columns=array_cols, output_all_columns=True)
    return ds


def superman_sft_config(output_dir: str, **overrides: Any):
    """``SFTConfig`` for Superman: custom tensors survive (no column pruning, no dataset preparation),
    fp32 and no gradient checkpointing unless asked (CPU-friendly), paper optimiser settings otherwise."""
    from trl import SFTConfig

    args = {
        "output_dir": output_dir,
        "remove_unused_columns": False,
        "dataset_kwargs": {"skip_prepare_dataset": True},
        "bf16": False,
        "fp16": False,
        "activation_checkpointing": False,
        "report_to": [],
        "learning_rate": 2e-4,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0.03,
        "logging_steps": 10,
        "save_strategy": "no",
        "per_device_train_batch_size": 4,
        "use_cpu": not torch.cuda.is_available(),
    }
    args.update(overrides)
    return SFTConfig(**args)


def superman_lora_config(model, r: int = 8, alpha: int = 16, motion_rows_only: bool = False):
    """LoRA r=8 on the language model's ``q_proj``/``v_proj``; the motion tokens trainable: either the
    whole input embedding and ``lm_head`` (the paper) or, with ``motion_rows_only``, just the motion rows
    of the embedding (``trainable_token_indices``) with ``lm_head`` saved in full."""
    from peft import LoraConfig

    ids = list(model.config.motion_token_ids)
    target = r".*language_model.*\.(q_proj|v_proj)"
    if motion_rows_only:
        return LoraConfig(
            r=r,
            lora_alpha=alpha,
            target_modules=target,
            modules_to_save=["lm_head"],
            trainable_token_indices={"embed_tokens": ids},
        )
    return LoraConfig(
        r=r, lora_alpha=alpha, target_modules=target, modules_to_save=["lm_head", "embed_tokens"]
    )


def build_superman_trainer(
    model,
    processor,
    train_examples: Sequence[Mapping[str, Any]],
    args=None,
    eval_examples: Sequence[Mapping[str, Any]] | None = None,
    peft_config=None,
):
    """An ``SFTTrainer`` over task examples (a list of dicts from :class:`SupermanTaskBuilder`); its checkpoints
    (``save_strategy``) are atomic and hold every trainable parameter, so ``train(resume_from_checkpoint=...)``
    continues a run exactly (:func:`~hf_skeleton.training.recipe_progress.resumable`)."""
    from trl import SFTTrainer

    from .recipe_progress import resumable

    if args is None:
        args = superman_sft_config("superman-sft")
    trainer = resumable(SFTTrainer)(
        model=model,
        args=args,
        train_dataset=examples_to_dataset(train_examples),
        eval_dataset=None if eval_examples is None else examples_to_dataset(eval_examples),
        data_collator=SupermanCollator(processor),
        processing_class=processor,
        peft_config=peft_config,
    )
    fused_head_reads_motion_rows(trainer.model)
    return trainer


def fused_head_reads_motion_rows(model) -> None:
    """TRL's fused LM head (``model(..., fused_lm_head=True)``, patched in by ``SFTTrainer``) multiplies by
    ``lm_head.weight`` instead of calling the head: on a Superman whose head keeps its motion rows apart
    (``config.trainable_motion_rows``) each such call then reads the merged table
    (:meth:`~hf_skeleton.models.superman.motion_rows.MotionRowsHead.reading_merged_weight`), so that the motion
    tokens are scored, and their rows trained, as the model's own forward scores them. Other models: unchanged."""
    import functools

    from ..models.superman.motion_rows import MotionRowsHead

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not isinstance(base.get_output_embeddings(), MotionRowsHead) or getattr(base.forward, "_reads_motion_rows", False):
        return
    fused = base.forward

    @functools.wraps(fused)
    def forward(*args, **kwargs):
        head = base.get_output_embeddings()  # looked up on each call, as TRL does
        if not kwargs.get("fused_lm_head") or not isinstance(head, MotionRowsHead):
            return fused(*args, **kwargs)
        with head.reading_merged_weight():
            return fused(*args, **kwargs)

    forward._reads_motion_rows = True
    base.forward = forward
