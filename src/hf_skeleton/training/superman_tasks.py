"""Superman's task mixture: Vid2Skel, SkelPred and MIB examples, a collator and an SFTTrainer recipe.

All motion is tokenised by the model's VGMT in normalised coordinates (:func:`normalize_motion`),
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
from ..models.vgmt.modeling_vgmt import normalize_motion
from .collators import build_labels

TASK_NAMES = ("estimate", "predict", "inbetween")


def _as_motion(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if t.ndim != 3 or t.shape[-1] != 3 or t.shape[0] < 1:
        raise SkeletonInputError(name, "motion (T, J, 3)", tuple(t.shape))
    return t


CMU_CONVENTIONS = ("cmu_poser", "cmu_asf", "cmu_motionbuilder")


def cmu_to_h36m(seq):
    """A CMU BVH clip as H36M-17 joints in metres (the layout Superman's recipe trains on).

    The joints come from the generic name-based conversion (``seq.to_format("h36m17")``, which maps
    every CMU naming of :data:`~hf_skeleton.skeletons.convert.JOINT_NAME_CONVENTIONS`); this adds
    the check that all 17 joints were found and the metre scale of ASF-named files, whose units are
    CMU's "length 0.45" (1 unit = 1/0.45 inch) rather than a length the file could declare.
    """
    from ..skeletons.convert import joint_name_convention

    convention = joint_name_convention(seq.format)
    if convention not in CMU_CONVENTIONS:
        raise SkeletonInputError("seq.format", "a CMU BVH skeleton (43 or 31 joints)", seq.format.name)
    out = seq.to_format("h36m17")
    missing = out.meta["conversion"]["missing"]
    if missing:
        raise SkeletonInputError("seq.format", "a CMU BVH skeleton with every H36M-17 joint",
                                 f"{seq.format.name} without {missing}")
    if seq.format.units not in ("m", "cm", "mm"):  # to_format scaled the others into metres
        if convention != "cmu_asf":
            raise SkeletonInputError("seq units", "cm, m or mm", seq.format.units)
        out.positions *= np.float32(0.0254 / 0.45)
    out.meta["units"] = "m"
    return out


def normalize_like(reference: torch.Tensor, *motions: torch.Tensor):
    """Normalise ``motions`` (each (T, J, 3)) with the box of ``reference`` (T_r, J, 3).

    Returns ``(list of normalised motions, centre (1, 1, 3), scale (1, 1, 1))``; ``x = n * scale + centre``.
    """
    _, centre, scale = normalize_motion(reference[None])
    return [(m - centre[0]) / scale[0] for m in motions], centre[0], scale[0]


def keyframe_count(num_frames: int, keyframes: int | None = None) -> int:
    """K, the frames observed at each end of a ``num_frames`` in-betweening clip (default T // 4, at least 1)."""
    k = keyframes or max(1, num_frames // 4)
    if 2 * k >= num_frames:
        raise SkeletonInputError("clip", f"more than {2 * k} frames (2 x {k} keyframes)", num_frames)
    return k


class SupermanTaskBuilder:
    """Builds the text of the three task templates from raw motion with a model's VGMT and processor.

    Args:
        model: a :class:`~hf_skeleton.SupermanForConditionalGeneration` (its ``vgmt`` tokenises).
        processor: the matching :class:`~hf_skeleton.SupermanProcessor`.
        keyframes: K, frames observed at each end for in-betweening (default T // 4).
    """

    def __init__(self, model, processor, keyframes: int | None = None):
        self.model = model
        self.processor = processor
        self.keyframes = keyframes
        self.r = model.config.vgmt_config.temporal_downsample

    def _codes(self, motion: torch.Tensor) -> torch.Tensor:
        return self.model.motion_to_codes(motion[None].to(self.model.vgmt.dtype))[0].cpu()

    def predict(self, history, future=None, num_frames: int | None = None) -> dict[str, Any]:
        """SkelPred: history (T, J, 3) -> future (T_f, J, 3) (default T_f = T). Without ``future``
        (inference) give ``num_frames``; the answer is then empty."""
        h = _as_motion(history, "history")
        if future is None:
            if not num_frames:
                raise SkeletonInputError("num_frames", "the number of future frames to predict", num_frames)
            f = None
        else:
            f = _as_motion(future, "future")
            num_frames = f.shape[0]
        (hn, *rest), centre, scale = normalize_like(h, h, *([] if f is None else [f]))
        steps = -(-int(num_frames) // self.r)
        prompt = self.processor.task_prompt("predict", num_steps=steps, history=self._codes(hn))
        target = self._codes(rest[0]) if rest else None
        return self._finish("predict", prompt, target, steps, centre, scale, num_frames)

    def inbetween(self, clip=None, *, start=None, end=None, num_frames: int | None = None) -> dict[str, Any]:
        """MIB: the first and last K frames of ``clip`` (T, J, 3) -> the whole clip. At inference give
        ``start`` and ``end`` keyframes (K, J, 3) and ``num_frames`` instead."""
        if clip is not None:
            c = _as_motion(clip, "clip")
            k = keyframe_count(c.shape[0], self.keyframes)
            s, e, num_frames = c[:k], c[-k:], c.shape[0]
        else:
            if start is None or end is None or not num_frames:
                raise SkeletonInputError("start/end/num_frames", "keyframes and the clip length", None)
            s, e, c = _as_motion(start, "start"), _as_motion(end, "end"), None
        (sn, en, *rest), centre, scale = normalize_like(torch.cat([s, e]), s, e, *([] if c is None else [c]))
        steps = -(-int(num_frames) // self.r)
        prompt = self.processor.task_prompt(
            "inbetween", num_steps=steps, start=self._codes(sn), end=self._codes(en)
        )
        target = self._codes(rest[0]) if rest else None
        out = self._finish("inbetween", prompt, target, steps, centre, scale, num_frames)
        out["keyframes"] = (s.shape[0], e.shape[0])
        return out

    def estimate(
        self, frames, clip=None, keypoints_2d=None, keypoints_mask=None, num_frames: int | None = None
    ) -> dict[str, Any]:
        """Vid2Skel: frames (T, H, W, 3) uint8 -> the clip (T, J, 3), normalised by its own box."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise SkeletonInputError("frames", "video frames (T, H, W, 3)", frames.shape)
        num_frames = num_frames or frames.shape[0]
        steps = -(-int(num_frames) // self.r)
        target = centre = scale = None
        if clip is not None:
            c = _as_motion(clip, "clip")
            (cn,), centre, scale = normalize_like(c, c)
            target = self._codes(cn)
        out = self._finish(
            "estimate",
            self.processor.task_prompt("estimate", num_steps=steps),
            target,
            steps,
            centre,
            scale,
            num_frames,
        )
        out["video"] = frames
        if keypoints_2d is not None:
            out["keypoints_2d"] = np.asarray(keypoints_2d, dtype=np.float32)
            if keypoints_mask is not None:
                out["keypoints_mask"] = np.asarray(keypoints_mask, dtype=bool)
        return out

    def _finish(self, task, prompt, target, steps, centre, scale, num_frames) -> dict[str, Any]:
        ex = {
            "task": task,
            "prompt": self.processor.chat_prompt(prompt),
            "num_steps": steps,
            "num_frames": int(num_frames),
            "centre": centre,
            "scale": scale,
        }
        if target is not None:
            ex["target_codes"] = target
            ex["answer"] = self.processor.format_motion(target)
        return ex


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
    """An ``SFTTrainer`` over task examples (a list of dicts from :class:`SupermanTaskBuilder`)."""
    from trl import SFTTrainer

    from .checkpointing import atomic

    if args is None:
        args = superman_sft_config("superman-sft")
    return atomic(SFTTrainer)(
        model=model,
        args=args,
        train_dataset=examples_to_dataset(train_examples),
        eval_dataset=None if eval_examples is None else examples_to_dataset(eval_examples),
        data_collator=SupermanCollator(processor),
        processing_class=processor,
        peft_config=peft_config,
    )
