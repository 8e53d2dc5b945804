"""SkeletonLLMProcessor: tokenizer + skeleton preprocessing + placeholder expansion.

``processor(skeletons=[...], text=[...], return_tensors="pt")`` returns a ``BatchFeature`` with
``input_ids``, ``attention_mask``, ``skeletons`` (N, T, P, J, 3, zero padded) and
``skeleton_mask`` (N, T, P, J). Every ``<skeleton>`` placeholder in the text becomes the VLM's
visual tokens for one rendered clip (per frame: ``<|vision_start|><|image_pad|>*n<|vision_end|>``
for Qwen2-VL, ``<img><IMG_CONTEXT>*n</img>`` for InternVL, ``<image>*n`` for LLaVA), so the text
and the model's rendered images always agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import BatchFeature
from transformers.processing_utils import ProcessorMixin

from ...errors import SkeletonInputError
from ...modeling_utils import ProcessorLoadingMixin
from ...skeletons.formats import format_for_config, get_format
from ...skeletons.sequence import SkeletonSequence
from ...skeletons.transforms import align_view_mode, augment_batch, normalize, resample

# family -> (per-frame start marker, visual token, per-frame end marker) of the usual checkpoints
FAMILY_TOKENS = {
    "qwen2_vl": ("<|vision_start|>", "<|image_pad|>", "<|vision_end|>"),
    "got_ocr2": ("<img>", "<IMG_CONTEXT>", "</img>"),
    "clip": ("", "<image>", ""),
    "siglip": ("", "<image>", ""),
}
QWEN_VIDEO_TOKEN = "<|video_pad|>"



class SkeletonLLMProcessor(ProcessorLoadingMixin, ProcessorMixin):
    """Tokenizer + skeleton normalisation + frame capping + ``<skeleton>`` expansion.

    Args:
        tokenizer: the VLM's tokenizer; it must hold the visual tokens as single tokens.
        format: skeleton format of the model's renderer; clips of another format are converted by
            joint name (:meth:`SkeletonSequence.to_format`; joints without a source are masked).
        num_frames: frames the model renders per clip (``config.num_frames``).
        tokens_per_frame: visual tokens per frame (``config.visual_tokens_per_frame()``).
        frames_as: ``"images"`` or ``"video"`` (as the model config).
        temporal_patch_size: Qwen2-VL frames per video token group (video mode).
        max_frames: longer clips are resampled uniformly to this many frames (the renderer samples
            its ``num_frames`` from the rest, with velocities at the original rate).
        skeleton_token: the placeholder string (prepended to a text without one).
        image_token, vision_start_token, vision_end_token: the VLM's visual tokens ("" for none).
        center, scale, align_view: skeleton normalisation (see
            :func:`hf_skeleton.skeletons.transforms.normalize`); scale is off by default because
            the renderer sizes its Gaussians in metres.
    """

    attributes = ["tokenizer"]
    tokenizer_class = "AutoTokenizer"

    def __init__(self, tokenizer=None, format: Any = "kinect_v2", num_frames: int = 12, tokens_per_frame: int = 256,
                 frames_as: str = "images", temporal_patch_size: int = 2, max_frames: int = 300,
                 skeleton_token: str = "<skeleton>", image_token: str = "<|image_pad|>",
                 vision_start_token: str = "<|vision_start|>", vision_end_token: str = "<|vision_end|>",
                 center: str = "first_frame", scale: bool = False, align_view: bool | str = False,
                 chat_template: str | None = None, **kwargs: Any):
        fmt = get_format(format)
        self.format = format_for_config(fmt)
        for name, value in (("num_frames", num_frames), ("tokens_per_frame", tokens_per_frame),
                            ("temporal_patch_size", temporal_patch_size), ("max_frames", max_frames)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise SkeletonInputError(f"SkeletonLLMProcessor.{name}", "a positive integer", value)
        if frames_as not in ("images", "video"):
            raise SkeletonInputError("SkeletonLLMProcessor.frames_as", "'images' or 'video'", frames_as)
        self.num_frames = int(num_frames)
        self.tokens_per_frame = int(tokens_per_frame)
        self.frames_as = frames_as
        self.temporal_patch_size = int(temporal_patch_size)
        self.max_frames = int(max_frames)
        self.skeleton_token = skeleton_token
        self.image_token = image_token
        self.vision_start_token = vision_start_token
        self.vision_end_token = vision_end_token
        self.center = center
        self.scale = bool(scale)
        self.align_view = align_view_mode(align_view)
        if chat_template is None and tokenizer is not None:
            chat_template = getattr(tokenizer, "chat_template", None)
        super().__init__(tokenizer, chat_template=chat_template, **kwargs)
        if self.tokenizer is not None:
            self._check_tokens()

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_model_config(cls, config: Any, tokenizer: Any, **kwargs: Any) -> "SkeletonLLMProcessor":
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

    @property
    def skeleton_format(self):
        return get_format(self.format)

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

    # ------------------------------------------------------------------ skeletons
    def prepare_sequence(self, clip: Any, skeleton_format: str | None = None, index: int = 0) -> SkeletonSequence:
        """One clip -> a normalised SkeletonSequence in the model's format with at most ``max_frames``."""
        if isinstance(clip, (str, Path)):
            from ...skeletons import load_skeleton

            clip = load_skeleton(clip, format=skeleton_format)
        if not isinstance(clip, SkeletonSequence):
            if skeleton_format is None:
                raise SkeletonInputError(f"skeletons[{index}]", "a SkeletonSequence, a path, or an array with "
                                         "skeleton_format= naming its format", type(clip).__name__)
            arr = clip.detach().cpu().numpy() if torch.is_tensor(clip) else np.asarray(clip)
            if arr.ndim not in (3, 4) or arr.shape[0] == 0:
                raise SkeletonInputError(f"skeletons[{index}]", "an array (T, J, 3) or (T, P, J, 3) with T >= 1",
                                         arr.shape)
            clip = SkeletonSequence(arr, format=skeleton_format)
        if not clip.mask.any():
            raise SkeletonInputError(f"skeletons[{index}]", "at least one observed joint", "an empty clip")
        if clip.format != self.skeleton_format:
            clip = clip.to_format(self.skeleton_format)
            if not clip.mask.any():
                raise SkeletonInputError(f"skeletons[{index}]", f"joints shared with format {self.skeleton_format.name!r}",
                                         "none after conversion")
        if clip.num_frames > self.max_frames:
            clip = resample(clip, self.max_frames)
        return normalize(clip, center=self.center, scale=self.scale, align_view=self.align_view)

    def pad_skeletons(self, clips: Sequence[SkeletonSequence]) -> tuple[torch.Tensor, torch.Tensor]:
        """Clips -> (N, T_max, P_max, J, 3) float32 and (N, T_max, P_max, J) bool, zero padded."""
        T = max(c.num_frames for c in clips)
        P = max(c.num_persons for c in clips)
        J = self.skeleton_format.num_joints
        pos = np.zeros((len(clips), T, P, J, 3), np.float32)
        mask = np.zeros((len(clips), T, P, J), bool)
        for i, c in enumerate(clips):
            pos[i, :c.num_frames, :c.num_persons] = c.positions
            mask[i, :c.num_frames, :c.num_persons] = c.mask
        return torch.from_numpy(pos), torch.from_numpy(mask)

    # ------------------------------------------------------------------ call
    def __call__(self, text: str | Sequence[str] | None = None, skeletons: Any = None, *,
                 skeleton_format: str | None = None, return_tensors: str | None = "pt", padding: Any = True,
                 augment: dict[str, Any] | None = None, **kwargs: Any) -> BatchFeature:
        """Tokenise ``text`` with each placeholder expanded, and batch ``skeletons``.

        Args:
            text: one string or a list; with as many texts as clips, a text without a placeholder
                gets one prepended. ``None``: one bare placeholder per clip.
            skeletons: a clip or a list of clips (SkeletonSequence, path, or array with
                ``skeleton_format``), one per placeholder in order.
            augment: training augmentation of the normalised clips, keyword arguments of
                :func:`hf_skeleton.skeletons.transforms.augment` plus ``seed`` (see ``augment_batch``);
                ``None`` (inference) leaves them as they are.
        """
        if isinstance(skeletons, (SkeletonSequence, str, Path)) or (
                isinstance(skeletons, (np.ndarray, torch.Tensor)) and skeletons.ndim in (3, 4)):
            skeletons = [skeletons]
        if isinstance(text, str):
            text = [text]
        clips = [] if skeletons is None else list(skeletons)
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
            seqs = [self.prepare_sequence(c, skeleton_format, i) for i, c in enumerate(clips)]
            if augment is not None:
                seqs = augment_batch(seqs, augment)
            pos, mask = self.pad_skeletons(seqs)
            data["skeletons"], data["skeleton_mask"] = pos, mask
        return BatchFeature(data=data, tensor_type=return_tensors)

    def batch_decode(self, *args: Any, **kwargs: Any):
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any):
        return self.tokenizer.decode(*args, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "skeletons", "skeleton_mask"]
