"""Differentiable torch versions of VLM image preprocessing.

DrAction renders float frames in [0, 1] that must reach the VLM's vision tower exactly as the
VLM's own image processor would prepare the same picture, while keeping the autograd graph back to
the renderer. Each adapter reproduces one family's processor on an already-[0, 1] image (the
processor's ``rescale`` by 1/255 is what turned uint8 into [0, 1]):

- ``qwen2_vl`` (Qwen2-VL, Qwen2.5-VL; ``Qwen2VLImageProcessor``): ``smart_resize`` to multiples of
  ``patch_size * merge_size``, CLIP mean/std, patches flattened in the processor's
  (merge-block, channel, temporal, patch) order with each image duplicated over
  ``temporal_patch_size``, plus ``image_grid_thw``; optionally frames as one video.
- ``got_ocr2`` (InternVL; ``GotOcr2ImageProcessor``): resize to the tile size, normalise. A square
  frame of the tile size is one tile, so the processor's tiling is the identity there.
- ``clip`` (LLaVA; ``CLIPImageProcessor``): resize the short side, centre crop, normalise.
- ``siglip`` (SigLIP towers; ``SiglipImageProcessor``, and ``ViTImageProcessor`` with bicubic
  resampling, e.g. EfficientNet-Lite's from ``hs.backbone_path``): resize to a square, normalise.

Resizing uses PIL-style bicubic filtering (``antialias=True``, a = -0.5, like PIL) so it matches
the processors up to their uint8 rounding; where the frame already has the processor's size the
resize is skipped, as PIL does, and the match is exact.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ...errors import SkeletonInputError

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

FAMILIES = ("qwen2_vl", "got_ocr2", "clip", "siglip")

# VLM model_type -> adapter family (and the family's default mean/std for that model type)
VLM_FAMILIES = {
    "qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_vl",
    "internvl": "got_ocr2", "got_ocr2": "got_ocr2",
    "llava": "clip", "llava_next": "clip", "video_llava": "clip",
    "siglip": "siglip", "paligemma": "siglip",
}
# vision tower model_type -> family, where a LLaVA-style VLM's tower has its own preprocessing
VISION_TOWER_FAMILIES = {"efficientnet_lite": "siglip"}


def vlm_family(vlm_config: Any) -> str | None:
    """The adapter family of a VLM config: by its model type, or (LLaVA holding a tower of
    :data:`VISION_TOWER_FAMILIES`, e.g. EfficientNet-Lite) by its vision tower's; None if unknown."""
    family = VLM_FAMILIES.get(getattr(vlm_config, "model_type", None))
    if family == "clip":
        tower = getattr(getattr(vlm_config, "vision_config", None), "model_type", None)
        family = VISION_TOWER_FAMILIES.get(tower, family)
    return family


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56,
                 max_pixels: int = 28 * 28 * 1280) -> tuple[int, int]:
    """Qwen2-VL's target size: both sides multiples of ``factor``, area within
    [min_pixels, max_pixels], aspect ratio kept as closely as possible (same arithmetic as
    ``transformers.models.qwen2_vl.image_processing_qwen2_vl.smart_resize``)."""
    if min(height, width) < 1 or max(height, width) / min(height, width) > 200:
        raise SkeletonInputError("image size", "positive sides with aspect ratio at most 200", (height, width))
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def resize_bicubic(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, h, w), PIL-style antialiased bicubic, clamped to [0, 1] as PIL's
    uint8 output is; the identity (no copy) when the size already matches."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    out = F.interpolate(images, size=tuple(size), mode="bicubic", align_corners=False, antialias=True)
    return out.clamp(0.0, 1.0)


@dataclass
class ImageAdapterConfig:
    """What a family's processor does, as plain data (stored in :class:`SkeletonLLMConfig`).

    ``size``: target (height, width) for ``got_ocr2`` / ``siglip``; the short side for ``clip``
    (``crop_size`` is the crop); unused by ``qwen2_vl`` (``min_pixels``/``max_pixels`` rule).
    """

    family: str = "qwen2_vl"
    image_mean: Sequence[float] = OPENAI_CLIP_MEAN
    image_std: Sequence[float] = OPENAI_CLIP_STD
    size: Sequence[int] | int | None = None
    crop_size: Sequence[int] | None = None
    patch_size: int = 14
    merge_size: int = 2
    temporal_patch_size: int = 2
    min_pixels: int = 56 * 56
    max_pixels: int = 28 * 28 * 1280
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise SkeletonInputError("image adapter family", f"one of {FAMILIES}", self.family)
        for name in ("image_mean", "image_std"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3:
                raise SkeletonInputError(f"image adapter {name}", "3 values (RGB)", value)
            setattr(self, name, value)
        if min(self.image_std) <= 0:
            raise SkeletonInputError("image adapter image_std", "positive values", self.image_std)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_mean"], d["image_std"] = list(self.image_mean), list(self.image_std)
        return d

    @classmethod
    def from_image_processor(cls, processor: Any) -> "ImageAdapterConfig":
        """Read family and parameters from a transformers image processor instance."""
        name = type(processor).__name__
        mean, std = list(processor.image_mean), list(processor.image_std)
        size = dict(processor.size) if processor.size is not None else {}
        if name.startswith("Qwen2VL"):
            return cls("qwen2_vl", mean, std, patch_size=processor.patch_size, merge_size=processor.merge_size,
                       temporal_patch_size=processor.temporal_patch_size,
                       min_pixels=size["shortest_edge"], max_pixels=size["longest_edge"])
        if name.startswith("GotOcr2"):
            return cls("got_ocr2", mean, std, size=(size["height"], size["width"]))
        if name.startswith("CLIP"):
            crop = dict(processor.crop_size)
            return cls("clip", mean, std, size=size["shortest_edge"], crop_size=(crop["height"], crop["width"]))
        if name.startswith("Siglip"):
            return cls("siglip", mean, std, size=(size["height"], size["width"]))
        if name.startswith("ViT"):  # resize to (height, width) + normalise: the siglip computation
            from transformers.image_utils import PILImageResampling

            if PILImageResampling(processor.resample) != PILImageResampling.BICUBIC:
                raise SkeletonInputError("image_processor.resample", "bicubic (the adapter's filter)",
                                         PILImageResampling(processor.resample).name)
            return cls("siglip", mean, std, size=(size["height"], size["width"]))
        raise SkeletonInputError("image_processor", f"a processor of one of the families {FAMILIES}", name)

    @classmethod
    def for_vlm_config(cls, vlm_config: Any, image_size: int) -> "ImageAdapterConfig":
        """Defaults for a VLM config (the checkpoints' own preprocessing for that model type)."""
        model_type = getattr(vlm_config, "model_type", None)
        family = vlm_family(vlm_config)
        if family is None:
            raise SkeletonInputError("vlm_config.model_type", f"one of {sorted(VLM_FAMILIES)}", model_type)
        vision = getattr(vlm_config, "vision_config", None)
        if family == "qwen2_vl":
            return cls("qwen2_vl", patch_size=vision.patch_size, merge_size=vision.spatial_merge_size,
                       temporal_patch_size=vision.temporal_patch_size)
        side = int(_first(getattr(vision, "image_size", image_size)))
        if family == "got_ocr2":
            return cls("got_ocr2", IMAGENET_MEAN, IMAGENET_STD, size=(side, side))
        if family == "clip":
            return cls("clip", OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, size=side, crop_size=(side, side))
        return cls("siglip", HALF, HALF, size=(side, side))


def _first(value):
    return value[0] if isinstance(value, (list, tuple)) else value


class ImageAdapter(torch.nn.Module):
    """Differentiable preprocessing of rendered frames for one VLM family.

    ``forward(images)`` takes (N, 3, H, W) float frames in [0, 1] (N = clips x frames) and returns
    the VLM's image inputs: ``{"pixel_values": ..., ["image_grid_thw": (N, 3)]}``. With
    ``as_video=True`` (``qwen2_vl`` only) it takes (B, T, 3, H, W) and returns
    ``{"pixel_values_videos", "video_grid_thw"}`` with one video per clip.
    """

    def __init__(self, config: ImageAdapterConfig):
        super().__init__()
        # mean/std are read from the config on every call (no buffers: nothing to save or re-initialise)
        self.config = config

    # ---------------------------------------------------------------- sizes
    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the image the vision tower sees for an (H, W) frame."""
        c = self.config
        if c.family == "qwen2_vl":
            return smart_resize(height, width, c.patch_size * c.merge_size, c.min_pixels, c.max_pixels)
        if c.family == "clip":
            return tuple(c.crop_size)
        return tuple(c.size)

    def _resized_size(self, height: int, width: int) -> tuple[int, int]:
        c = self.config
        if c.family == "clip":  # short side to `size`, long side scaled (int truncation, as transformers)
            short, long = sorted((height, width))
            new_short, new_long = int(c.size), int(int(c.size) * long / short)
            return (new_short, new_long) if height <= width else (new_long, new_short)
        return self.output_size(height, width)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """Qwen2-VL patch grid (grid_h, grid_w) of one frame."""
        h, w = self.output_size(height, width)
        return h // self.config.patch_size, w // self.config.patch_size

    def _check(self, images: torch.Tensor, ndim: int) -> None:
        if not torch.is_tensor(images) or images.ndim != ndim or images.shape[-3] != 3:
            shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            expected = "(N, 3, H, W)" if ndim == 4 else "(B, T, 3, H, W)"
            raise SkeletonInputError("images", f"a float tensor {expected} in [0, 1]", shape)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Resize (and crop) then ``(x - mean) / std``; (N, 3, H, W) -> (N, 3, h, w)."""
        self._check(images, 4)
        H, W = images.shape[-2:]
        out = resize_bicubic(images, self._resized_size(H, W))
        if self.config.family == "clip":
            ch, cw = self.config.crop_size
            h, w = out.shape[-2:]
            top, left = (h - ch) // 2, (w - cw) // 2
            if top < 0 or left < 0:
                raise SkeletonInputError("images", f"frames at least {ch}x{cw} after resizing", (h, w))
            out = out[..., top:top + ch, left:left + cw]
        mean = torch.tensor(self.config.image_mean, dtype=out.dtype, device=out.device).view(1, 3, 1, 1)
        std = torch.tensor(self.config.image_std, dtype=out.dtype, device=out.device).view(1, 3, 1, 1)
        return (out - mean) / std

    # ---------------------------------------------------------------- Qwen2-VL patchify
    def _patchify(self, frames: torch.Tensor, temporal: int) -> torch.Tensor:
        """(G*tps, 3, h, w) grouped in time -> (G*gh*gw, 3*tps*p*p) in Qwen2-VL's order."""
        c = self.config
        p, m, tps = c.patch_size, c.merge_size, c.temporal_patch_size
        n, C, h, w = frames.shape
        gh, gw = h // p, w // p
        x = frames.reshape(temporal, tps, C, gh // m, m, p, gw // m, m, p)
        # -> (t, gh/m, gw/m, m, m, C, tps, p, p): merge blocks contiguous, then channel, time, pixel
        x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
        return x.reshape(temporal * gh * gw, C * tps * p * p)

    def forward(self, images: torch.Tensor, *, as_video: bool = False) -> dict[str, torch.Tensor]:
        c = self.config
        if as_video:
            if c.family != "qwen2_vl":
                raise SkeletonInputError("as_video", "False for a family without a video input", c.family)
            self._check(images, 5)
            B, T = images.shape[:2]
            norm = self.normalize(images.flatten(0, 1))
            norm = norm.view(B, T, *norm.shape[1:])
            pad = (-T) % c.temporal_patch_size  # the video processor repeats the last frame
            if pad:
                norm = torch.cat([norm, norm[:, -1:].expand(B, pad, *norm.shape[2:])], dim=1)
            t = norm.shape[1] // c.temporal_patch_size
            gh, gw = norm.shape[-2] // c.patch_size, norm.shape[-1] // c.patch_size
            patches = torch.cat([self._patchify(v, t) for v in norm], dim=0)
            grid = torch.tensor([[t, gh, gw]] * B, dtype=torch.long, device=images.device)
            return {"pixel_values_videos": patches, "video_grid_thw": grid}
        self._check(images, 4)
        norm = self.normalize(images)
        if c.family != "qwen2_vl":
            return {"pixel_values": norm}
        N = norm.shape[0]
        # every still image is repeated over the temporal patch: (N, 3, h, w) -> (N*tps, 3, h, w)
        frames = norm.repeat_interleave(c.temporal_patch_size, dim=0)
        gh, gw = norm.shape[-2] // c.patch_size, norm.shape[-1] // c.patch_size
        grid = torch.tensor([[1, gh, gw]] * N, dtype=torch.long, device=images.device)
        return {"pixel_values": self._patchify(frames, N), "image_grid_thw": grid}
