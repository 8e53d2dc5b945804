"""SupermanProcessor: tokenizer with motion tokens + Qwen2-VL image processing + the motion-text formatter.

Videos go through the family's own (PIL) image processor frame by frame; consecutive frames then
fill the temporal patch (``temporal_patch_size`` frames per patch), which is what Qwen's video
processor does and needs no torchvision. Each ``<|image_pad|>`` / ``<|video_pad|>`` placeholder in
the text is expanded to the number of merged visual tokens. Skeleton inputs go through the
processor's ``skeleton_processor`` (:class:`~hf_skeleton.processing.SkeletonProcessor` with VGMT's box
normalisation), saved as ``preprocessor_config.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature

from ...errors import SkeletonInputError
from ...processing.base import SkeletonModelProcessor
from ...processing.skeleton_processor import SkeletonProcessor
from ...skeletons.box import box_normalize_like
from ..vgmt.processing_vgmt import vgmt_skeleton_processor
from .motion_text import MotionParse, MotionTextFormatter

TASKS = ("estimate", "predict", "inbetween")
IMAGE_TOKEN, VIDEO_TOKEN = "<|image_pad|>", "<|video_pad|>"
VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"

# Task templates of the unified model (Vid2Skel, SkelPred, MIB).
PROMPTS = {
    "estimate": VISION_START
    + VIDEO_TOKEN
    + VISION_END
    + "Estimate the 3D motion of the person in the video.",
    "predict": "Predict the next {num_steps} frames of this motion: {history}",
    "inbetween": "Fill in the whole motion of {num_steps} frames from the start {start} and the end {end}",
}


class SupermanProcessor(SkeletonModelProcessor):
    """Turns prompts, videos and motion codes into :class:`SupermanForConditionalGeneration` inputs.

    Args:
        image_processor: the VLM family's image processor (``Qwen2VLImageProcessorPil``).
        tokenizer: a tokenizer that already holds the motion tokens (see
            :meth:`MotionTextFormatter.add_to_tokenizer`).
        chat_template: optional chat template (else the tokenizer's).
        motion_format: :meth:`MotionTextFormatter.to_dict` of the grouping (codebook size, parts).
        skeleton_processor: the :class:`~hf_skeleton.processing.SkeletonProcessor` that reads skeleton
            inputs (VGMT's format and box normalisation; :func:`build_superman_processor` makes it).
            Folders saved before it existed take it from the model's ``config.json`` when there is one.
        frame_tokens: for a VLM whose tower reads single images (a LLaVA composed by
            ``SupermanForConditionalGeneration.from_backbones``): the tokens one image becomes. Each image is
            then ``frame_tokens`` ``<|image_pad|>`` tokens and a video of T frames T such images (``pixel_values``
            (T, 3, H, W)); ``None``: Qwen-VL's patches, grids and temporal merging.
    """

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        chat_template=None,
        motion_format: dict[str, Any] | None = None,
        skeleton_processor: SkeletonProcessor | None = None,
        frame_tokens: int | None = None,
        **kwargs: Any,
    ):
        if frame_tokens is not None and (isinstance(frame_tokens, bool) or not isinstance(frame_tokens, int)
                                         or frame_tokens < 1):
            raise SkeletonInputError("frame_tokens", "a positive number of tokens per image or None", frame_tokens)
        self.frame_tokens = frame_tokens
        if skeleton_processor is not None:
            self._set_skeleton_processor(skeleton_processor)
        else:
            self.skeleton_processor = None  # an old folder without the model's config.json
        if motion_format is None:
            raise SkeletonInputError(
                "motion_format", "MotionTextFormatter.to_dict() of the model's grouping", None
            )
        self.motion_format = dict(motion_format)
        self.motion_formatter = MotionTextFormatter.from_dict(self.motion_format)
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)
        self.motion_ids = self.motion_formatter.token_ids(tokenizer)
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.video_token_id = tokenizer.convert_tokens_to_ids(VIDEO_TOKEN)

    @classmethod
    def _skeleton_processor_for_folder(cls, folder, processor_dict: dict[str, Any],
                                       hub: dict[str, Any]) -> SkeletonProcessor | None:
        from transformers import AutoConfig
        from transformers.utils import CONFIG_NAME, cached_file

        if cached_file(str(folder), CONFIG_NAME, _raise_exceptions_for_missing_entries=False,
                       _raise_exceptions_for_connection_errors=False, **hub) is None:
            return None
        config = AutoConfig.from_pretrained(folder, **hub)
        return vgmt_skeleton_processor(config.vgmt_config.format) if config.model_type == "superman" else None

    @property
    def model_input_names(self) -> list[str]:
        return [
            "input_ids",
            "attention_mask",
            "mm_token_type_ids",
            "pixel_values",
            "image_grid_thw",
            "pixel_values_videos",
            "video_grid_thw",
            "keypoints_2d",
            "keypoints_mask",
        ]

    # ------------------------------------------------------------------ motion text
    def format_motion(self, codes) -> str:
        """Codes (S, N) -> body-part grouped text."""
        return self.motion_formatter.format(codes)

    def parse_motion(self, text: str, num_steps: int | None = None) -> torch.Tensor:
        """Strict: text -> codes (S, N) or :class:`MotionParseError`."""
        return self.motion_formatter.parse(text, num_steps)

    def try_parse_motion(self, text: str, num_steps: int | None = None) -> MotionParse:
        return self.motion_formatter.try_parse(text, num_steps)

    def task_prompt(self, task: str, *, num_steps: int, history=None, start=None, end=None) -> str:
        """User text of one task: ``"estimate"`` (needs a video), ``"predict"`` (history codes (S_h, N)),
        ``"inbetween"`` (start and end keyframe codes)."""
        if task not in TASKS:
            raise SkeletonInputError("task", f"one of {TASKS}", task)
        if task == "predict":
            if history is None:
                raise SkeletonInputError("history", "codes (S, N) of the observed motion", None)
            return PROMPTS[task].format(num_steps=num_steps, history=self.format_motion(history))
        if task == "inbetween":
            if start is None or end is None:
                raise SkeletonInputError("start/end", "codes of the start and end keyframes", (start, end))
            return PROMPTS[task].format(
                num_steps=num_steps, start=self.format_motion(start), end=self.format_motion(end)
            )
        return PROMPTS[task]

    def chat_prompt(self, user_text: str) -> str:
        """The chat-formatted prompt up to the assistant's answer."""
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
        )

    # ------------------------------------------------------------------ vision
    @staticmethod
    def _frames(video) -> list[np.ndarray]:
        """One video (T, H, W, 3) or a list of frames -> its frames, checked."""
        arr = [np.asarray(f) for f in video] if not isinstance(video, np.ndarray) else list(video)
        if not arr or any(a.ndim != 3 or a.shape[-1] != 3 for a in arr):
            raise SkeletonInputError("videos", "frames (T, H, W, 3), T >= 1", [a.shape for a in arr[:2]])
        return arr

    def _video_patches(self, frames) -> tuple[np.ndarray, list[int]]:
        arr = self._frames(frames)
        tps = self.image_processor.temporal_patch_size
        arr = arr + [arr[-1]] * (-len(arr) % tps)
        out = self.image_processor(images=arr, return_tensors="np")
        pv, grid = out["pixel_values"], out["image_grid_thw"]
        n = int(grid[0, 1] * grid[0, 2])
        per_frame = pv.reshape(len(arr), n, 3, tps, -1)[
            :, :, :, 0
        ]  # the processor repeats each frame in time
        t = len(arr) // tps
        video = per_frame.reshape(t, tps, n, 3, -1).transpose(0, 2, 3, 1, 4).reshape(t * n, -1)
        return video, [t, int(grid[0, 1]), int(grid[0, 2])]

    def __call__(
        self,
        text: str | Sequence[str] | None = None,
        images=None,
        videos=None,
        keypoints_2d=None,
        keypoints_mask=None,
        return_tensors: str = "pt",
        padding: bool | str = True,
        **kwargs: Any,
    ) -> BatchFeature:
        """Args:
        text: one prompt or a batch; each ``<|image_pad|>`` / ``<|video_pad|>`` stands for one image / video.
        images: list of images (H, W, 3) (any format the image processor takes).
        videos: list of videos, each frames (T, H, W, 3) uint8 or a list of frames.
        keypoints_2d: (N, T, J, 2) 2D detections in [0, 1] of the frame for MAFT (N videos or images).
        keypoints_mask: (N, T, J) which detections are valid.
        """
        if text is None:
            raise SkeletonInputError("text", "a prompt string or a list of them", None)
        texts = [text] if isinstance(text, str) else list(text)
        data: dict[str, Any] = {}
        if self.frame_tokens is not None:
            texts = self._per_frame_vision(texts, images, videos, data)
        else:
            texts = self._qwen_vision(texts, images, videos, data)
        if keypoints_2d is not None:
            kp = np.asarray(keypoints_2d, dtype=np.float32)
            n_vis = len(videos) if videos is not None else (len(images) if images is not None else 0)
            if kp.ndim != 4 or kp.shape[-1] != 2 or kp.shape[0] != n_vis:
                raise SkeletonInputError(
                    "keypoints_2d", f"an array ({n_vis}, T, J, 2): one row per video/image", kp.shape
                )
            data["keypoints_2d"] = kp
            if keypoints_mask is not None:
                km = np.asarray(keypoints_mask, dtype=bool)
                if km.shape != kp.shape[:-1]:
                    raise SkeletonInputError("keypoints_mask", f"shape {kp.shape[:-1]}", km.shape)
                data["keypoints_mask"] = km
        enc = self.tokenizer(texts, padding=padding, **kwargs)
        ids = enc["input_ids"]
        data["input_ids"], data["attention_mask"] = ids, enc["attention_mask"]
        data["mm_token_type_ids"] = [
            [1 if t == self.image_token_id else 2 if t == self.video_token_id else 0 for t in row]
            for row in ids
        ]
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _qwen_vision(self, texts: list[str], images, videos, data: dict[str, Any]) -> list[str]:
        """Qwen-VL: images as patches with ``image_grid_thw``, videos merged in time (``pixel_values_videos``)."""
        merge = self.image_processor.merge_size**2
        if images is not None:
            out = self.image_processor(images=list(images), return_tensors="np")
            data["pixel_values"], data["image_grid_thw"] = out["pixel_values"], out["image_grid_thw"]
            texts = self._expand(texts, IMAGE_TOKEN, [int(g.prod()) // merge for g in out["image_grid_thw"]])
        if videos is not None:
            pieces = [self._video_patches(v) for v in videos]
            data["pixel_values_videos"] = np.concatenate([p for p, _ in pieces], 0)
            data["video_grid_thw"] = np.array([g for _, g in pieces], dtype=np.int64)
            texts = self._expand(texts, VIDEO_TOKEN, [int(np.prod(g)) // merge for _, g in pieces])
        return texts

    def _per_frame_vision(self, texts: list[str], images, videos, data: dict[str, Any]) -> list[str]:
        """Images and video frames through the tower's image processor, one image each; placeholders expanded
        to ``frame_tokens`` ``<|image_pad|>`` per image (a video's ``<|video_pad|>`` to T times that)."""
        frames, counts = [], []
        if images is not None:
            frames += list(images)
            texts = self._expand(texts, IMAGE_TOKEN, [self.frame_tokens] * len(images))
        if videos is not None:
            for video in videos:
                arr = self._frames(video)
                frames += arr
                counts.append(len(arr) * self.frame_tokens)
            texts = self._expand(texts, VIDEO_TOKEN, counts, as_token=IMAGE_TOKEN)
        if frames:
            data["pixel_values"] = self.image_processor(images=frames, return_tensors="np")["pixel_values"]
        return texts

    @staticmethod
    def _expand(texts: list[str], token: str, counts: list[int], as_token: str | None = None) -> list[str]:
        """Each ``token`` placeholder -> ``counts[i]`` copies of ``as_token`` (default: of itself)."""
        total = sum(t.count(token) for t in texts)
        if total != len(counts):
            raise SkeletonInputError(f"text {token} placeholders", f"{len(counts)} (one per input)", total)
        it = iter(counts)
        fill = as_token or token
        out = []
        for t in texts:
            parts = t.split(token)
            out.append(parts[0] + "".join(fill * next(it) + p for p in parts[1:]))
        return out

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(*args, **kwargs)


def build_superman_processor(tokenizer, vgmt_config, image_processor=None,
                             frame_tokens: int | None = None) -> SupermanProcessor:
    """Add the motion tokens of ``vgmt_config`` to ``tokenizer`` and wrap it with an image processor (default: a
    Qwen2-VL (PIL) one, ``min_pixels`` of one merged token, so small frames stay small) and VGMT's
    SkeletonProcessor; ``frame_tokens``: see :class:`SupermanProcessor`."""
    from transformers import Qwen2VLImageProcessorPil

    fmt = MotionTextFormatter.from_vgmt_config(vgmt_config)
    fmt.add_to_tokenizer(tokenizer)
    if image_processor is None:
        image_processor = Qwen2VLImageProcessorPil(
            size={"shortest_edge": 28 * 28, "longest_edge": 28 * 28 * 1280}
        )
    return SupermanProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        motion_format=fmt.to_dict(),
        skeleton_processor=vgmt_skeleton_processor(vgmt_config.format),
        frame_tokens=frame_tokens,
    )


def causal_lm_superman_processor(tokenizer, vgmt_config, name: str = "tokenizer", image_processor=None,
                                 frame_tokens: int | None = None) -> SupermanProcessor:
    """The processor of a Superman on a causal LM (SmolLM2, ...): its ``tokenizer`` gains Qwen's vision
    placeholders (a text-only model never sees them; a composed VLM's images are ``<|image_pad|>`` runs, see
    ``frame_tokens`` and ``image_processor`` of :func:`build_superman_processor`) and then the motion tokens of
    ``vgmt_config`` (K + 2 contiguous ids at the end).

    Raises:
        SkeletonInputError: a tokenizer without a chat template (the tasks are chat turns), naming ``name``.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise SkeletonInputError(name, "a tokenizer with a chat template (Superman's tasks are chat turns)",
                                 "no chat_template")
    tokenizer.add_tokens([VISION_START, VISION_END, IMAGE_TOKEN, VIDEO_TOKEN], special_tokens=True)
    return build_superman_processor(tokenizer, vgmt_config, image_processor, frame_tokens)


# ---------------------------------------------------------------------- the three task templates
TASK_NAMES = ("estimate", "predict", "inbetween")


def _as_motion(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if t.ndim != 3 or t.shape[-1] != 3 or t.shape[0] < 1:
        raise SkeletonInputError(name, "motion (T, J, 3)", tuple(t.shape))
    return t


# Normalise motions with the box of a reference clip: the one box normalisation (skeletons/box.py).
normalize_like = box_normalize_like


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

    def codes(self, motion: torch.Tensor) -> torch.Tensor:
        """The VGMT codes (T / r, J) of a motion (T, J, 3) already in its box (:func:`normalize_like`)."""
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
        prompt = self.processor.task_prompt("predict", num_steps=steps, history=self.codes(hn))
        target = self.codes(rest[0]) if rest else None
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
            "inbetween", num_steps=steps, start=self.codes(sn), end=self.codes(en)
        )
        target = self.codes(rest[0]) if rest else None
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
            target = self.codes(cn)
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
