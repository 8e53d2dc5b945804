"""``pipeline("skeleton-generation")``: Superman's motion prediction, in-betweening and estimation.

    pipe = pipeline("skeleton-generation", model="path/to/superman")
    future = pipe(seq_or_path, task="predict", num_frames=20)        # the next 20 frames
    clip = pipe(seq_or_path, task="inbetween", num_frames=16)        # keyframes at both ends -> 16 frames
    motion = pipe("video.mp4", task="estimate", num_frames=16)       # 3D motion from RGB
    future = pipe(array, skeleton_format="h36m17", task="predict")  # (T, [P,] J, 3); or a dataset row

Skeleton inputs are read by the processor's ``skeleton_processor`` and converted to the model's format.

Argument policies (typed errors otherwise): ``num_frames`` 1..1024 (in-betweening: more than 2 x
``keyframes``), ``keyframes`` 1..512, ``history_frames`` 1..1024 (prediction reads the last
``history_frames`` frames, default the whole clip, which must then be at most 1024 frames),
``max_new_tokens`` 1..4096, ``frame_size`` 16..1024, and the prompt plus the motion to generate must fit
the language model's context. Every person must be observed in every frame the model reads (history
or keyframes); joints the input format lacks stay masked and are read at the clip's centre.
Each call returns a :class:`~hf_skeleton.SkeletonSequence` in the input's format and coordinates
(estimation: the model's format in normalised units). Decoding is constrained to the motion-text
template by default (only the code slots are free), and the output is always parsed strictly; with
``constrained=False`` a malformed output raises :class:`~hf_skeleton.models.superman.MotionParseError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Pipeline

from ..errors import SkeletonInputError
from ..models.superman.generation_superman import MotionTemplateConstraint, constrained_generate
from ..models.superman.processing_superman import SupermanTaskBuilder, keyframe_count
from ..models.vgmt.processing_vgmt import vgmt_skeleton_processor
from ..processing.skeleton_processor import SkeletonProcessor
from ..skeletons.geometry import fill_unobserved_joints
from ..skeletons.sequence import SkeletonSequence
from .batching import ListBatchingMixin
from .typed_loading import install as _install_typed_loading

_install_typed_loading()  # pipeline(task, model=folder) raises the checkpoint's typed error

TASKS = ("predict", "inbetween", "estimate")
MAX_FRAMES = 1024
MAX_NEW_TOKENS = 4096


def _bounded(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise SkeletonInputError(name, f"an integer in {lo}..{hi}", value)
    return int(value)


class SkeletonGenerationPipeline(ListBatchingMixin, Pipeline):
    """Motion generation with a :class:`~hf_skeleton.SupermanForConditionalGeneration` and its processor."""

    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def _sanitize_parameters(
        self,
        task: str | None = None,
        num_frames: int | None = None,
        keyframes: int | None = None,
        history_frames: int | None = None,
        constrained: bool | None = None,
        max_new_tokens: int | None = None,
        frame_size: int | None = None,
        skeleton_format: str | None = None,
        do_sample: bool | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        **kwargs: Any,
    ):
        if task is not None and task not in TASKS:
            raise SkeletonInputError("task", f"one of {TASKS}", task)
        pre: dict[str, Any] = {}
        for name, value, hi in (
            ("num_frames", num_frames, MAX_FRAMES),
            ("keyframes", keyframes, MAX_FRAMES // 2),
            ("history_frames", history_frames, MAX_FRAMES),
        ):
            if value is not None:
                pre[name] = _bounded(name, value, 1, hi)
        if frame_size is not None:
            pre["frame_size"] = _bounded("frame_size", frame_size, 16, 1024)
        for name, value in (("task", task), ("skeleton_format", skeleton_format)):
            if value is not None:
                pre[name] = value
        fwd = {} if constrained is None else {"constrained": bool(constrained)}
        if max_new_tokens is not None:
            fwd["max_new_tokens"] = _bounded("max_new_tokens", max_new_tokens, 1, MAX_NEW_TOKENS)
        sampling = {k: v for k, v in (("do_sample", do_sample), ("temperature", temperature), ("top_p", top_p))
                    if v is not None}
        for name in ("temperature", "top_p"):
            value = sampling.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 < value <= (1 if name == "top_p" else 100)):
                raise SkeletonInputError(name, "a number in (0, 1]" if name == "top_p" else "a number in (0, 100]",
                                         value)
        if sampling:
            fwd["sampling"] = sampling
        if kwargs:
            raise SkeletonInputError(
                "skeleton-generation arguments",
                "task, num_frames, keyframes, history_frames, constrained, max_new_tokens, frame_size, "
                "skeleton_format, do_sample, temperature, top_p",
                sorted(kwargs),
            )
        return pre, fwd, {}

    # ------------------------------------------------------------------ preprocess
    def _skeleton_processor(self) -> SkeletonProcessor:
        """The processor's SkeletonProcessor (a Superman processor folder saved alone before it existed
        has none: VGMT's, in the model's format)."""
        return self.processor.skeleton_processor or vgmt_skeleton_processor(self.model.config.vgmt_config.format)

    def _sequence(self, inputs, skeleton_format: str | None = None) -> SkeletonSequence:
        """A path, sequence, array with ``skeleton_format`` or dataset row -> its sequence."""
        return self._skeleton_processor().to_sequence(inputs, skeleton_format, name="inputs")

    def preprocess(
        self,
        inputs,
        task: str = "predict",
        num_frames: int | None = None,
        keyframes: int | None = None,
        history_frames: int | None = None,
        frame_size: int = 224,
        skeleton_format: str | None = None,
    ) -> dict[str, Any]:

        if task not in TASKS:
            raise SkeletonInputError("task", f"one of {TASKS}", task)
        fmt = self.model.config.vgmt_config.skeleton_format
        builder = SupermanTaskBuilder(self.model, self.processor, keyframes=keyframes)
        if task == "estimate":
            if not isinstance(inputs, (str, Path)) and not (
                isinstance(inputs, np.ndarray) and inputs.ndim == 4
            ):
                raise SkeletonInputError(
                    "inputs", "a video path or frames (T, H, W, 3) for task='estimate'", type(inputs).__name__
                )
            from ..video import load_video, video_info

            if isinstance(inputs, np.ndarray):
                frames, fps = inputs, 30.0
            else:
                frames = load_video(inputs, num_frames, size=frame_size)
                fps = float(video_info(inputs).get("fps") or 30.0)
            rows = [builder.estimate(frames)]
            return {"rows": rows, "source": None, "fps": fps, "format": fmt, "task": task}

        seq = self._sequence(inputs, skeleton_format)
        source_format = seq.format
        seq = self._skeleton_processor().to_model_format(seq, name="inputs")
        # the VGMT reads every joint: one the clip lacks (a format without it, an occlusion) is filled from its
        # neighbours, not left at the origin, where it would stretch the clip's box
        pos, T = fill_unobserved_joints(seq.positions, seq.mask, seq.format), seq.num_frames  # (T, P, J, 3)
        if task == "predict":
            if history_frames is None and T > MAX_FRAMES:
                raise SkeletonInputError("history_frames", f"the last N <= {MAX_FRAMES} frames to read (the clip "
                                         f"has {T}: pass history_frames=N)", None)
            read = list(range(max(0, T - (history_frames or T)), T))
            total = num_frames or len(read)
        else:
            total = num_frames or T
            if total > MAX_FRAMES:
                raise SkeletonInputError("num_frames", f"at most {MAX_FRAMES} frames to generate", total)
            k = keyframe_count(total, keyframes)
            if T < 2 * k:
                raise SkeletonInputError("inputs", f"at least {2 * k} frames ({k} keyframes at each end)", T)
            read = list(range(k)) + list(range(T - k, T))
        unseen = [(p, t) for p in range(seq.num_persons) for t in read if not seq.mask[t, p].any()]
        if unseen:
            raise SkeletonInputError("inputs", "every person observed in every frame the model reads (history or "
                                     "keyframes)", f"person {unseen[0][0]} unobserved in frame {unseen[0][1]}"
                                     + (f" and {len(unseen) - 1} more" if len(unseen) > 1 else ""))
        rows = []
        for p in range(seq.num_persons):
            motion = pos[:, p]
            if task == "predict":
                rows.append(builder.predict(motion[read[0]:], num_frames=total))
            else:
                rows.append(builder.inbetween(start=motion[:k], end=motion[-k:], num_frames=total))
        return {
            "rows": rows,
            "source": source_format,
            "fps": seq.fps,
            "format": fmt,
            "task": task,
            "meta": dict(seq.meta),
        }

    # ------------------------------------------------------------------ generation
    def _forward(
        self, model_inputs: dict[str, Any], constrained: bool = True, max_new_tokens: int | None = None,
        sampling: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One preprocessed clip, or ``{"batch": [...]}`` of them (``batch_size`` > 1): every person of every
        clip is generated on its own (their constraints differ in length), the outputs kept per clip."""
        items = model_inputs.get("batch", [model_inputs])
        results = [self._generate_clip(item, constrained, max_new_tokens, sampling or {}) for item in items]
        return {"result": results if "batch" in model_inputs else results[0]}

    def _generate_clip(self, model_inputs: dict[str, Any], constrained: bool, max_new_tokens: int | None,
                       sampling: dict[str, Any]):
        rows = model_inputs["rows"]
        texts, decoded = [], []
        for row in rows:
            videos = [row["video"]] if "video" in row else None
            enc = self.processor(text=[row["prompt"]], videos=videos, return_tensors="pt").to(
                self.model.device
            )
            plen = enc["input_ids"].shape[1]
            gen_kwargs: dict[str, Any] = {"do_sample": False, **sampling}  # sampling: among the allowed tokens
            constraint = MotionTemplateConstraint(self.processor, row["num_steps"], plen)
            context = getattr(self.model.config.get_text_config(), "max_position_embeddings", None)
            if context and plen + len(constraint) > context:
                raise SkeletonInputError("num_frames/history_frames", f"a prompt plus motion within the model's "
                                         f"{context}-token context", f"{plen} + {len(constraint)} tokens")
            with torch.no_grad():
                if constrained:
                    out = constrained_generate(self.model, enc, constraint, **gen_kwargs)
                else:
                    out = self.model.generate(**enc, **gen_kwargs,
                                              max_new_tokens=max_new_tokens or len(constraint) + 8)
            text = self.processor.decode(out[0, plen:], skip_special_tokens=True)
            codes = self.processor.parse_motion(text, num_steps=row["num_steps"])
            motion = self.model.codes_to_motion(codes[None], num_frames=row["num_frames"])[0].float().cpu()
            texts.append(text)
            decoded.append((codes, motion))
        return {**model_inputs, "texts": texts, "decoded": decoded}

    def postprocess(self, model_outputs: dict[str, Any]) -> SkeletonSequence:
        model_outputs = model_outputs["result"]
        rows, decoded = model_outputs["rows"], model_outputs["decoded"]
        persons = []
        for row, (_, motion) in zip(rows, decoded):
            if row.get("scale") is not None:
                motion = motion * row["scale"] + row["centre"]
            persons.append(motion.numpy())
        positions = np.stack(persons, 1).astype(np.float32)  # (T, P, J, 3)
        meta = dict(model_outputs.get("meta", {}))
        meta.update(
            task=model_outputs["task"],
            generated_text=model_outputs["texts"],
            motion_codes=[c.numpy() for c, _ in decoded],
        )
        if model_outputs["task"] == "estimate":
            meta["units"] = "normalized"
        seq = SkeletonSequence(
            positions=positions, fps=model_outputs["fps"], format=model_outputs["format"], meta=meta
        )
        source = model_outputs.get("source")
        if source is not None and source != seq.format:
            seq = seq.to_format(source)
        return seq
