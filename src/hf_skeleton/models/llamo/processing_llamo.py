"""LlamoProcessor: tokenizer + motion normalisation + video frame sampling for LLaMo.

``processor(skeletons=[...], text=[...], videos=None, return_tensors="pt")`` returns a
``BatchFeature`` with ``input_ids``, ``attention_mask``, ``motion`` (B, T, J, 3, zero padded),
``motion_mask`` (B, T, J) and, when videos are given, ``pixel_values_videos`` (B, F, 3, H, W).
A ``<motion>`` (``<video>``) placeholder in the text expands to as many tokens as the model emits
for that clip. A missing ``<motion>`` is prepended; a missing ``<video>`` is put right before
``<motion>``, so both sit inside the user turn of a chat prompt. Clips go through the processor's
``skeleton_processor`` (:class:`~hf_skeleton.processing.SkeletonProcessor`: any input -> the model's
format -> at most ``max_motion_frames`` -> root-centred and scaled -> person 0, (B, T, J, 3)), saved as
``preprocessor_config.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import BatchFeature

from ...errors import SkeletonInputError
from ...processing.base import SkeletonTextProcessor
from ...processing.skeleton_processor import SkeletonProcessor
from ...skeletons.formats import SkeletonFormat
from ...video import load_video, sample_frame_indices
from .configuration_llamo import MOTION_POOLINGS, LlamoConfig

# the skeleton options of the constructor and their defaults (None in the signature means "this default")
SKELETON_DEFAULTS = {"format": "smpl22", "max_frames": 196, "center": "first_frame", "scale": True,
                     "align_view": False}


def default_image_processor(vision_config: Any = None):
    """The PIL image processor of the video tower's family, sized to its ``image_size``."""
    from transformers import CLIPImageProcessorPil, SiglipImageProcessorPil

    size = int(getattr(vision_config, "image_size", 224) or 224)
    if vision_config is not None and "siglip" in str(getattr(vision_config, "model_type", "")):
        return SiglipImageProcessorPil(size={"height": size, "width": size})
    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


class LlamoProcessor(SkeletonTextProcessor):
    """Tokenizer + ``<motion>``/``<video>`` expansion; clips go to ``skeleton_processor``, video frames
    through the vision tower's image processor.

    Args:
        tokenizer: a tokenizer holding ``motion_token`` and ``video_token`` as single tokens.
        image_processor: the video tower's image processor (e.g. ``CLIPImageProcessorPil``).
        format: skeleton format of the model; clips of another format are converted by joint name.
            Bare arrays without ``skeleton_format`` are read in this format. Default ``"smpl22"``.
        max_motion_frames: longer clips are resampled uniformly to this many frames (default 196).
        motion_temporal_stride, motion_pooling: as in :class:`LlamoConfig` (they fix the token count).
        num_video_frames: frames sampled uniformly from each video.
        video_tokens_per_frame: ``<video>`` tokens per frame (``config.num_video_tokens_per_frame``).
        motion_token, video_token: placeholder strings.
        center, scale, align_view: motion normalisation (:func:`hf_skeleton.skeletons.transforms.normalize`):
            centre on the first frame's root, divide by the median bone length, optionally rotate
            to face the camera (defaults ``"first_frame"``, ``True``, ``False``).
        skeleton_processor: the :class:`~hf_skeleton.processing.SkeletonProcessor` (default: built from
            ``format``, ``max_motion_frames``, ``center``, ``scale``, ``align_view``; given ones of
            these override its options).
    """

    def __init__(self, tokenizer=None, image_processor=None, format: str | Mapping[str, Any] | None = None,
                 max_motion_frames: int | None = None, motion_temporal_stride: int = 4,
                 motion_pooling: str = "frame", num_video_frames: int = 8, video_tokens_per_frame: int = 576,
                 motion_token: str = "<motion>", video_token: str = "<video>", center: str | None = None,
                 scale: bool | None = None, align_view: bool | str | None = None, chat_template: str | None = None,
                 skeleton_processor: SkeletonProcessor | None = None, **kwargs):
        self._set_skeleton_processor(skeleton_processor, format=format, max_frames=max_motion_frames,
                                     center=center, scale=scale, align_view=align_view)
        self.motion_temporal_stride = int(motion_temporal_stride)
        if motion_pooling not in MOTION_POOLINGS:
            raise SkeletonInputError("motion_pooling", f"one of {MOTION_POOLINGS}", motion_pooling)
        self.motion_pooling = motion_pooling
        self.num_video_frames = int(num_video_frames)
        self.video_tokens_per_frame = int(video_tokens_per_frame)
        self.motion_token = motion_token
        self.video_token = video_token
        if chat_template is None and tokenizer is not None:
            chat_template = getattr(tokenizer, "chat_template", None)
        super().__init__(tokenizer, image_processor, chat_template=chat_template, **kwargs)
        unk = self.tokenizer.unk_token_id
        for token in (motion_token, video_token):
            ids = self.tokenizer.encode(token, add_special_tokens=False)
            if len(ids) != 1 or ids[0] == unk:
                raise SkeletonInputError("tokenizer", f"{token!r} as one (special) token; add it with "
                                         "tokenizer.add_special_tokens", ids)

    def _default_skeleton_processor(self, **options: Any) -> SkeletonProcessor:
        values = {k: (SKELETON_DEFAULTS[k] if v is None else v) for k, v in options.items()}
        return SkeletonProcessor(**values, normalization="root", persons="first", arrays_in_model_format=True,
                                 model_input_names=("motion", "motion_mask"))

    @classmethod
    def from_config(cls, config: LlamoConfig, tokenizer, image_processor=None, **kwargs) -> LlamoProcessor:
        """A processor whose token counts match ``config``; checks the placeholder ids agree."""
        proc = cls(tokenizer=tokenizer,
                   image_processor=image_processor or default_image_processor(config.vision_config),
                   format=config.format, max_motion_frames=config.max_motion_frames,
                   motion_temporal_stride=config.motion_temporal_stride, motion_pooling=config.motion_pooling,
                   num_video_frames=config.num_video_frames,
                   video_tokens_per_frame=config.num_video_tokens_per_frame or 1,
                   motion_token=config.motion_token, video_token=config.video_token, **kwargs)
        for name, tid in (("motion_token_id", config.motion_token_id), ("video_token_id", config.video_token_id)):
            want = proc.motion_token_id if name == "motion_token_id" else proc.video_token_id
            if tid is not None and tid != want:
                raise SkeletonInputError(f"config.{name}", f"the tokenizer's id {want}", tid)
        return proc

    # ------------------------------------------------------------------ interface
    # the skeleton options live in the SkeletonProcessor
    format = property(lambda self: self.skeleton_processor.format)
    max_motion_frames = property(lambda self: self.skeleton_processor.max_frames)
    center = property(lambda self: self.skeleton_processor.center)
    scale = property(lambda self: self.skeleton_processor.scale)
    align_view = property(lambda self: self.skeleton_processor.align_view)

    @property
    def placeholder_token(self) -> str:
        """The placeholder the shared collators insert (``<motion>``)."""
        return self.motion_token

    @property
    def skeleton_token(self) -> str:
        """The clip placeholder under its older name (:attr:`placeholder_token`)."""
        return self.motion_token

    @property
    def motion_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(self.motion_token)

    @property
    def video_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(self.video_token)

    @property
    def placeholder_token_ids(self) -> list[int]:
        return [self.motion_token_id, self.video_token_id]

    @property
    def model_input_names(self) -> list[str]:
        return [*self.tokenizer.model_input_names, *self.skeleton_processor.model_input_names, "pixel_values_videos"]

    def num_motion_tokens(self, mask: np.ndarray) -> int:
        """Tokens for one clip with joint mask (T, J): time steps holding an observed frame (x J)."""
        frames = np.asarray(mask, bool).any(-1)
        stride = self.motion_temporal_stride
        steps = -(-len(frames) // stride)
        padded = np.zeros(steps * stride, bool)
        padded[:len(frames)] = frames
        n = int(padded.reshape(steps, stride).any(-1).sum())
        return n * (self.skeleton_format.num_joints if self.motion_pooling == "joint" else 1)

    # ------------------------------------------------------------------ motion (the SkeletonProcessor's)
    def prepare_motion(self, skeleton: Any, skeleton_format: str | SkeletonFormat | None = None,
                       index: int = 0, augment: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """One clip -> normalised positions (T, J, 3) float32 and mask (T, J) in the model's format.

        Accepts what the ``skeleton_processor`` reads (path, :class:`SkeletonSequence`, dataset row, or an
        array / tensor (T, J, 3) or (T, P, J, 3) in ``skeleton_format``, default the model's).
        Multi-person clips keep person 0. ``augment``: training augmentation applied after normalising.
        """
        sp = self.skeleton_processor
        seq = sp.prepare(skeleton, skeleton_format, name=f"skeletons[{index}]")
        pos, mask = sp.pad(sp.augment([seq], augment))
        return pos[0], mask[0]

    # ------------------------------------------------------------------ video
    def prepare_video(self, video: Any, index: int = 0, seed: int | None = None) -> torch.Tensor:
        """One video (path, (N, H, W, 3) uint8 array or list of frames) -> (F, 3, H', W') pixel values."""
        name = f"videos[{index}]"
        if isinstance(video, (str, Path)):
            frames = load_video(video, num_frames=self.num_video_frames, seed=seed)
        else:
            if torch.is_tensor(video):
                video = video.detach().cpu().numpy()
            frames = np.stack([np.asarray(f) for f in video]) if isinstance(video, (list, tuple)) else np.asarray(video)
            if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
                raise SkeletonInputError(name, "a video path or frames (N, H, W, 3)", tuple(frames.shape))
            frames = frames[sample_frame_indices(len(frames), self.num_video_frames, seed=seed)]
        out = self.image_processor(images=list(frames), return_tensors="pt")
        return out["pixel_values"]

    # ------------------------------------------------------------------ call
    def __call__(self, skeletons: Sequence[Any] | Any = None, text: str | Sequence[str] | None = None,
                 videos: Sequence[Any] | None = None, return_tensors: str | None = "pt",
                 skeleton_format: str | SkeletonFormat | None = None, video_seed: int | None = None,
                 augment: dict[str, Any] | None = None, **kwargs) -> BatchFeature:
        """Encode a batch. ``skeletons``: one clip per text (or None); ``videos``: one per text or None.

        ``augment``: training augmentation of the normalised clips, keyword arguments of
        :func:`hf_skeleton.skeletons.transforms.augment` plus ``seed`` (clip ``i`` uses ``seed + i``);
        ``None`` (inference) leaves them as they are.

        Extra keyword arguments (``padding``, ``truncation``, ...) go to the tokenizer.
        """
        if text is None:
            raise SkeletonInputError("text", "a string or a list of strings", None)
        texts = [text] if isinstance(text, str) else list(text)
        if not all(isinstance(t, str) for t in texts):
            raise SkeletonInputError("text", "strings", [type(t).__name__ for t in texts])
        B = len(texts)
        if skeletons is not None:
            if (isinstance(skeletons, np.ndarray) or torch.is_tensor(skeletons)) and skeletons.ndim == 4 and B > 1:
                skeletons = list(skeletons)  # a batch (B, T, J, 3) along axis 0
            skeletons = SkeletonProcessor.as_clip_list(skeletons)
            if len(skeletons) != B:
                raise SkeletonInputError("skeletons", f"one clip per text ({B})", len(skeletons))
        if videos is not None:
            videos = [videos] if isinstance(videos, (str, Path)) else list(videos)
            if len(videos) != B:
                raise SkeletonInputError("videos", f"one video per text ({B})", len(videos))

        data: dict[str, Any] = {}
        motion_counts = [0] * B
        if skeletons is not None:
            # clip i draws its augmentation from seed + i
            data.update(self.skeleton_processor(skeletons, skeleton_format, augment=augment, per_clip_seeds=True,
                                                return_tensors="pt"))
            motion_counts = [self.num_motion_tokens(m) for m in data["motion_mask"].numpy()]
        if videos is not None:
            data["pixel_values_videos"] = torch.stack([self.prepare_video(v, i, video_seed)
                                                       for i, v in enumerate(videos)])

        nv = self.num_video_frames * self.video_tokens_per_frame if videos is not None else None
        expanded = [self._expand(t, motion_counts[i] if skeletons is not None else None, nv, i)
                    for i, t in enumerate(texts)]
        kwargs.setdefault("padding", True)
        text_inputs = self.tokenizer(expanded, return_tensors=return_tensors, **kwargs)
        return BatchFeature(data={**text_inputs, **data}, tensor_type=return_tensors)

    def _expand(self, text: str, n_motion: int | None, n_video: int | None, index: int) -> str:
        """Check and expand the placeholders of one text. A missing ``<motion>`` is prepended; a
        missing ``<video>`` goes right before ``<motion>`` (inside the user turn of a chat prompt)."""
        for token, count in ((self.motion_token, n_motion), (self.video_token, n_video)):
            n = text.count(token)
            if count is None and n:
                raise SkeletonInputError(f"text[{index}]", f"no {token} placeholder without its input", n)
            if n > 1:
                raise SkeletonInputError(f"text[{index}]", f"at most one {token} placeholder per text", n)
        if n_motion is not None and self.motion_token not in text:
            text = f"{self.motion_token}\n{text}"
        if n_video is not None and self.video_token not in text:
            if self.motion_token in text:
                text = text.replace(self.motion_token, self.video_token + self.motion_token, 1)
            else:
                text = f"{self.video_token}\n{text}"
        if n_motion is not None:
            text = text.replace(self.motion_token, self.motion_token * n_motion, 1)
        if n_video is not None:
            text = text.replace(self.video_token, self.video_token * n_video, 1)
        return text

    def batch_decode(self, *args, **kwargs):
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        return self.tokenizer.decode(*args, **kwargs)
