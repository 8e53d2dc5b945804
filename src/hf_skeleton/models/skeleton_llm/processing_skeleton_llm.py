"""SkeletonLLMProcessor: tokenizer + skeleton preprocessing + placeholder expansion.

``processor(skeletons=[...], text=[...], return_tensors="pt")`` returns a ``BatchFeature`` with
``input_ids``, ``attention_mask``, ``skeletons`` (N, T, P, J, 3, zero padded) and
``skeleton_mask`` (N, T, P, J). Every ``<skeleton>`` placeholder in the text becomes the VLM's
visual tokens for one rendered clip (per frame: ``<|vision_start|><|image_pad|>*n<|vision_end|>``
for Qwen2-VL, ``<img><IMG_CONTEXT>*n</img>`` for InternVL, ``<image>*n`` for LLaVA), so the text
and the model's rendered images always agree. Clips go through the processor's
``skeleton_processor`` (:class:`~hf_skeleton.processing.SkeletonProcessor`: any input -> the renderer's
format -> at most ``max_frames`` -> root-centred -> (N, T, P, J, 3)), saved as ``preprocessor_config.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature

from ...errors import SkeletonInputError
from ...processing.base import SkeletonTextProcessor
from ...processing.skeleton_processor import SkeletonProcessor
from ...skeletons.sequence import SkeletonSequence

# family -> (per-frame start marker, visual token, per-frame end marker) of the usual checkpoints
FAMILY_TOKENS = {
    "qwen2_vl": ("<|vision_start|>", "<|image_pad|>", "<|vision_end|>"),
    "got_ocr2": ("<img>", "<IMG_CONTEXT>", "</img>"),
    "clip": ("", "<image>", ""),
    "siglip": ("", "<image>", ""),
}
QWEN_VIDEO_TOKEN = "<|video_pad|>"

# the skeleton options of the constructor and their defaults (None in the signature means "this default")
SKELETON_DEFAULTS = {"format": "kinect_v2", "max_frames": 300, "center": "first_frame", "scale": False,
                     "align_view": False}


class SkeletonLLMProcessor(SkeletonTextProcessor):
    """Tokenizer + ``<skeleton>`` expansion; clips go to ``skeleton_processor``.

    Args:
        tokenizer: the VLM's tokenizer; it must hold the visual tokens as single tokens.
        format: skeleton format of the model's renderer; clips of another format are converted by
            joint name (:meth:`SkeletonSequence.to_format`; joints without a source are masked).
            Default ``"kinect_v2"``.
        num_frames: frames the model renders per clip (``config.num_frames``).
        tokens_per_frame: visual tokens per frame (``config.visual_tokens_per_frame()``).
        frames_as: ``"images"`` or ``"video"`` (as the model config).
        temporal_patch_size: Qwen2-VL frames per video token group (video mode).
        max_frames: longer clips are resampled uniformly to this many frames (the renderer samples
            its ``num_frames`` from the rest, with velocities at the original rate). Default 300.
        skeleton_token: the placeholder string (prepended to a text without one).
        image_token, vision_start_token, vision_end_token: the VLM's visual tokens ("" for none).
        center, scale, align_view: skeleton normalisation (see
            :func:`hf_skeleton.skeletons.transforms.normalize`); defaults ``"first_frame"``, ``False``
            (the renderer sizes its Gaussians in metres), ``False``.
        skeleton_processor: the :class:`~hf_skeleton.processing.SkeletonProcessor` (default: built from
            ``format``, ``max_frames``, ``center``, ``scale``, ``align_view``; given ones of these
            override its options).
    """

    attributes = ["tokenizer"]
    tokenizer_class = "AutoTokenizer"

    def __init__(self, tokenizer=None, format: Any = None, num_frames: int = 12, tokens_per_frame: int = 256,
                 frames_as: str = "images", temporal_patch_size: int = 2, max_frames: int | None = None,
                 skeleton_token: str = "<skeleton>", image_token: str = "<|image_pad|>",
                 vision_start_token: str = "<|vision_start|>", vision_end_token: str = "<|vision_end|>",
                 center: str | None = None, scale: bool | None = None, align_view: bool | str | None = None,
                 chat_template: str | None = None, skeleton_processor: SkeletonProcessor | None = None,
                 **kwargs: Any):
        self._set_skeleton_processor(skeleton_processor, format=format, max_frames=max_frames, center=center,
                                     scale=scale, align_view=align_view)
        for name, value in (("num_frames", num_frames), ("tokens_per_frame", tokens_per_frame),
                            ("temporal_patch_size", temporal_patch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise SkeletonInputError(f"SkeletonLLMProcessor.{name}", "a positive integer", value)
        if frames_as not in ("images", "video"):
            raise SkeletonInputError("SkeletonLLMProcessor.frames_as", "'images' or 'video'", frames_as)
        self.num_frames = int(num_frames)
        self.tokens_per_frame = int(tokens_per_frame)
        self.frames_as = frames_as
        self.temporal_patch_size = int(temporal_patch_size)
        self.skeleton_token = skeleton_token
        self.image_token = image_token
        self.vision_start_token = vision_start_token
        self.vision_end_token = vision_end_token
        if chat_template is None and tokenizer is not None:
            chat_template = getattr(tokenizer, "chat_template", None)
        super().__init__(tokenizer, chat_template=chat_template, **kwargs)
        if self.tokenizer is not None:
            self._check_tokens()

    def _default_skeleton_processor(self, **options: Any) -> SkeletonProcessor:
        values = {k: (SKELETON_DEFAULTS[k] if v is None else v) for k, v in options.items()}
        if isinstance(values["max_frames"], bool) or not isinstance(values["max_frames"], (int, np.integer)) \
                or values["max_frames"] < 1:
            raise SkeletonInputError("SkeletonLLMProcessor.max_frames", "a positive integer", values["max_frames"])
        return SkeletonProcessor(**values, normalization="root", persons="all",
                                 model_input_names=("skeletons", "skeleton_mask"))

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_model_config(cls, config: Any, tokenizer: Any, **kwargs: Any) -> SkeletonLLMProcessor:
        """A processor matching a :class:`SkeletonLLMConfig` (frames, token counts, format, tokens)."""
        start, token, end = FAMILY_TOKENS[config.family]
        token = tokenizer.convert_ids_to_tokens(config.image_token_id) or token
        if config.frames_as == "video":
            token = tokenizer.convert_ids_to_tokens(config.video_token_id)
        if config.family == "qwen2_vl":
            start = tokenizer.convert_ids_to_tokens(config.vlm_config.vision_start_token_id)
            end = tokenizer.convert_ids_to_tokens(config.vlm_config.vision_end_token_id)
        values = dict(format=config.draction_config.format, num_frames=config.num_frames,
                      tokens_per_frame=config.visual_tokens_per_frame(), frames_as=config.frames_as,
                      temporal_patch_size=config.adapter_config().temporal_patch_size,
                      skeleton_token=config.skeleton_token, image_token=token, vision_start_token=start,
                      vision_end_token=end)
        values.update(kwargs)
        return cls(tokenizer, **values)

    def _check_tokens(self) -> None:
        unk = self.tokenizer.unk_token_id
        for name in ("skeleton_token", "image_token", "vision_start_token", "vision_end_token"):
            token = getattr(self, name)
            if not token:
                continue
            ids = self.tokenizer.encode(token, add_special_tokens=False)
            if len(ids) != 1 or (unk is not None and ids[0] == unk):
                raise SkeletonInputError(f"tokenizer ({name})", f"{token!r} as one known token "
                                         "(add it with tokenizer.add_special_tokens)", ids)

    # the skeleton options live in the SkeletonProcessor
    format = property(lambda self: self.skeleton_processor.format)
    max_frames = property(lambda self: self.skeleton_processor.max_frames)
    center = property(lambda self: self.skeleton_processor.center)
    scale = property(lambda self: self.skeleton_processor.scale)
    align_view = property(lambda self: self.skeleton_processor.align_view)

    @property
    def placeholder_token(self) -> str:
        return self.skeleton_token

    @property
    def placeholder_token_ids(self) -> list[int]:
        """Token ids that never carry a training loss (visual tokens and their markers)."""
        tokens = [t for t in (self.skeleton_token, self.image_token, self.vision_start_token, self.vision_end_token) if t]
        return self.tokenizer.convert_tokens_to_ids(tokens)

    def num_visual_tokens(self) -> int:
        if self.frames_as == "video":
            return self.tokens_per_frame * -(-self.num_frames // self.temporal_patch_size)
        return self.tokens_per_frame * self.num_frames

    def expansion(self) -> str:
        """The text one ``<skeleton>`` placeholder becomes."""
        if self.frames_as == "video":
            groups = 1
            n = self.num_visual_tokens()
        else:
            groups, n = self.num_frames, self.tokens_per_frame
        return (self.vision_start_token + self.image_token * n + self.vision_end_token) * groups

    # ------------------------------------------------------------------ skeletons (the SkeletonProcessor's)
    def prepare_sequence(self, clip: Any, skeleton_format: str | None = None, index: int = 0) -> SkeletonSequence:
        """One clip -> a normalised SkeletonSequence in the model's format with at most ``max_frames``."""
        return self.skeleton_processor.prepare(clip, skeleton_format, name=f"skeletons[{index}]")

    def pad_skeletons(self, clips: Sequence[SkeletonSequence]) -> tuple[torch.Tensor, torch.Tensor]:
        """Clips -> (N, T_max, P_max, J, 3) float32 and (N, T_max, P_max, J) bool, zero padded."""
        pos, mask = self.skeleton_processor.pad(clips)
        return torch.from_numpy(pos), torch.from_numpy(mask)

    # ------------------------------------------------------------------ call
    def __call__(self, text: str | Sequence[str] | None = None, skeletons: Any = None, *,
                 skeleton_format: str | None = None, return_tensors: str | None = "pt", padding: Any = True,
                 augment: dict[str, Any] | None = None, **kwargs: Any) -> BatchFeature:
        """Tokenise ``text`` with each placeholder expanded, and batch ``skeletons``.

        Args:
            text: one string or a list; with as many texts as clips, a text without a placeholder
                gets one prepended. ``None``: one bare placeholder per clip.
            skeletons: a clip or a list of clips (path, SkeletonSequence, dataset row, or array with
                ``skeleton_format``), one per placeholder in order.
            augment: training augmentation of the normalised clips, keyword arguments of
                :func:`hf_skeleton.skeletons.transforms.augment` plus ``seed`` (one generator for the
                batch, see ``augment_batch``); ``None`` (inference) leaves them as they are.
        """
        clips = [] if skeletons is None else SkeletonProcessor.as_clip_list(skeletons)
        if isinstance(text, str):
            text = [text]
        if text is None:
            if not clips:
                raise SkeletonInputError("text/skeletons", "text, skeletons or both", None)
            text = [self.skeleton_token] * len(clips)
        text = [str(t) for t in text]
        counts = [t.count(self.skeleton_token) for t in text]
        if clips and len(text) == len(clips) and all(c <= 1 for c in counts):  # one clip per text
            text = [t if c else f"{self.skeleton_token}\n{t}" for t, c in zip(text, counts)]
            counts = [1] * len(text)
        if sum(counts) != len(clips):
            raise SkeletonInputError("skeletons", f"{sum(counts)} clips (one per {self.skeleton_token!r} in text)",
                                     len(clips))
        expanded = [t.replace(self.skeleton_token, self.expansion()) for t in text]
        encoding = self.tokenizer(expanded, padding=padding, return_tensors=return_tensors, **kwargs)
        data = dict(encoding)
        if clips:
            data.update(self.skeleton_processor(clips, skeleton_format, augment=augment, return_tensors="pt"))
        return BatchFeature(data=data, tensor_type=return_tensors)

    def batch_decode(self, *args: Any, **kwargs: Any):
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any):
        return self.tokenizer.decode(*args, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", *self.skeleton_processor.model_input_names]
