"""SkeletonProcessor: the one path from any skeleton input to a model's tensors.

It plays for skeletons the role an image or video processor plays for pixels (transformers'
``Qwen2_5_VLProcessor`` expands placeholders and delegates images to its ``image_processor``; our
model processors expand theirs and delegate clips to their ``skeleton_processor``)::

    input -> SkeletonSequence -> model format -> at most max_frames -> normalised -> padded tensors

Inputs: a file path (anything :func:`hf_skeleton.load_skeleton` reads), a :class:`SkeletonSequence`,
an array or tensor (T, J, 3) / (T, P, J, 3) with ``skeleton_format`` naming its format, or a dataset
row with the package's parquet features (:func:`hf_skeleton.dataset_tools.example_to_sequence`).

Normalisation (``normalization``):
  - ``"root"``: :func:`hf_skeleton.skeletons.transforms.normalize` (root-centred, optionally
    bone-length scaled and view aligned), the understanding models' kind;
  - ``"box"``: :func:`hf_skeleton.skeletons.box.box_normalize` per person, into [-1, 1] (VGMT, Superman);
  - ``"none"``.
Each is recorded in ``meta["transforms"]`` and undone by :meth:`SkeletonProcessor.denormalize`.

Outputs (``model_input_names``): positions and mask, (B, T, P, J, 3) / (B, T, P, J) with
``persons="all"`` (e.g. ``skeletons`` / ``skeleton_mask``) or person 0 only, (B, T, J, 3) / (B, T, J),
with ``persons="first"`` (e.g. ``motion`` / ``motion_mask``); zero padded, padding unobserved.

Saved on its own as ``preprocessor_config.json`` (a ``FeatureExtractionMixin``, registered with
``AutoFeatureExtractor`` for our model types).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from transformers import BatchFeature
from transformers.feature_extraction_utils import FeatureExtractionMixin

from ..errors import SkeletonInputError
from ..skeletons.formats import SkeletonFormat, format_for_config, get_format
from ..skeletons.geometry import check_view_alignment
from ..skeletons.sequence import SkeletonSequence
from ..skeletons.transforms import (
    CENTER_MODES,
    align_view_mode,
    augment_batch,
    denormalize,
    normalize,
    resample,
)

NORMALIZATIONS = ("root", "box", "none")
PERSONS = ("all", "first")
BOX_RECORD = "box_normalize"


def _is_tensor(clip: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor can only exist once torch is imported
    return torch is not None and isinstance(clip, torch.Tensor)


def _is_array(clip: Any) -> bool:
    return isinstance(clip, (np.ndarray, list, tuple)) or _is_tensor(clip)


class SkeletonProcessor(FeatureExtractionMixin):
    """Turns skeleton clips of any kind into one model's normalised, padded tensors.

    Args:
        format: the model's skeleton format (name, :class:`SkeletonFormat` or its dict); clips of another
            format are converted by joint name (joints without a source stay masked).
        max_frames: longer clips are resampled uniformly to this many frames (``None``: no limit).
        normalization: ``"root"``, ``"box"`` or ``"none"`` (see the module docstring).
        center, scale, align_view: the ``"root"`` normalisation's options
            (:func:`hf_skeleton.skeletons.transforms.normalize`). An ``align_view`` the format cannot
            support (``"upright"`` without hips and shoulders, ``"facing"`` without mirror pairs or for 2D
            data) is a :class:`~hf_skeleton.errors.SkeletonFormatError` naming what the format lacks.
        persons: ``"all"`` (outputs (B, T, P, J, 3)) or ``"first"`` (person 0, outputs (B, T, J, 3)).
        arrays_in_model_format: a bare array without ``skeleton_format`` is read in the model's format
            (otherwise such an array is an error).
        model_input_names: names of the positions and the mask in the output batch.
    """

    def __init__(self, format: Any = "kinect_v2", max_frames: int | None = None, normalization: str = "root",
                 center: str = "first_frame", scale: bool = True, align_view: bool | str = False,
                 persons: str = "all", arrays_in_model_format: bool = False,
                 model_input_names: Sequence[str] = ("skeletons", "skeleton_mask"), **kwargs: Any):
        kwargs.pop("feature_extractor_type", None)
        super().__init__(**kwargs)
        self.format = format_for_config(get_format(format))
        if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer))
                                       or max_frames < 1):
            raise SkeletonInputError("SkeletonProcessor.max_frames", "a positive integer or None", max_frames)
        self.max_frames = None if max_frames is None else int(max_frames)
        if normalization not in NORMALIZATIONS:
            raise SkeletonInputError("SkeletonProcessor.normalization", f"one of {NORMALIZATIONS}", normalization)
        self.normalization = normalization
        if center not in CENTER_MODES:
            raise SkeletonInputError("SkeletonProcessor.center", f"one of {CENTER_MODES}", center)
        self.center = center
        self.scale = bool(scale)
        self.align_view = align_view_mode(align_view)
        if normalization == "root":  # a fixed alignment the model's format cannot support is a typed error
            check_view_alignment(self.skeleton_format, self.align_view)
        if persons not in PERSONS:
            raise SkeletonInputError("SkeletonProcessor.persons", f"one of {PERSONS}", persons)
        self.persons = persons
        self.arrays_in_model_format = bool(arrays_in_model_format)
        names = list(model_input_names)
        if len(names) != 2 or not all(isinstance(n, str) and n for n in names):
            raise SkeletonInputError("SkeletonProcessor.model_input_names", "two names (positions, mask)", names)
        self.model_input_names = names

    # ------------------------------------------------------------------ configuration
    @property
    def skeleton_format(self) -> SkeletonFormat:
        return get_format(self.format)

    def init_kwargs(self) -> dict[str, Any]:
        """The constructor arguments of this processor (what ``preprocessor_config.json`` holds)."""
        return {k: v for k, v in self.to_dict().items() if k != "feature_extractor_type"}

    def replace(self, **changes: Any) -> SkeletonProcessor:
        """A copy with some options changed (``None`` values keep the current option)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return self if not changes else type(self)(**{**self.init_kwargs(), **changes})

    # ------------------------------------------------------------------ input -> sequence
    def to_sequence(self, clip: Any, skeleton_format: Any = None, *, name: str = "skeletons[0]") -> SkeletonSequence:
        """Any supported input -> a :class:`SkeletonSequence` in its own format (nothing converted yet).

        ``skeleton_format`` names the format of a bare array, or overrides a file's or a dataset row's.
        Raises :class:`SkeletonInputError` (naming ``name``) for other inputs and for clips without any
        observed joint.
        """
        if isinstance(clip, SkeletonSequence):
            seq = clip
        elif isinstance(clip, (str, Path)):
            from ..skeletons.io import load_skeleton

            seq = load_skeleton(clip, format=skeleton_format)
        elif isinstance(clip, Mapping):
            from ..dataset_tools.features import example_to_sequence

            seq = example_to_sequence(clip, format=skeleton_format)
        elif _is_array(clip):
            seq = self._array_to_sequence(clip, skeleton_format, name)
        else:
            raise SkeletonInputError(name, "a skeleton file path, a SkeletonSequence, an array (T, [P,] J, 3) with "
                                     "skeleton_format=, or a dataset row", type(clip).__name__)
        if not seq.mask.any():
            raise SkeletonInputError(name, "a clip with at least one observed joint", "an empty clip")
        return seq

    def _array_to_sequence(self, clip: Any, skeleton_format: Any, name: str) -> SkeletonSequence:
        if skeleton_format is None and not self.arrays_in_model_format:
            raise SkeletonInputError(name, "a SkeletonSequence, a path, or an array with skeleton_format= naming "
                                     "its format", type(clip).__name__)
        fmt = get_format(skeleton_format) if skeleton_format is not None else self.skeleton_format
        if _is_tensor(clip):
            clip = clip.detach().cpu().numpy()
        arr = np.asarray(clip, dtype=np.float32)
        if arr.ndim not in (3, 4) or arr.shape[0] == 0:
            raise SkeletonInputError(name, "an array (T, J, 3) or (T, P, J, 3) with T >= 1", arr.shape)
        if arr.shape[-1] not in (2, 3) or arr.shape[-2] != fmt.num_joints:
            raise SkeletonInputError(name, f"an array (T, [P,] {fmt.num_joints}, 3): {fmt.num_joints} joints of "
                                     f"format {fmt.name!r}", tuple(arr.shape))
        return SkeletonSequence(arr, format=fmt, meta={"source": name})

    def to_model_format(self, seq: SkeletonSequence, *, name: str = "skeletons[0]") -> SkeletonSequence:
        """``seq`` in the model's format, converted by joint name; an error when no joint is shared."""
        fmt = self.skeleton_format
        if seq.format == fmt:
            return seq
        out = seq.to_format(fmt)
        if not out.mask.any():
            raise SkeletonInputError(name, f"joints shared with format {fmt.name!r}", "none after conversion")
        return out

    # ------------------------------------------------------------------ normalisation
    def normalize(self, seq: SkeletonSequence) -> SkeletonSequence:
        """This processor's normalisation of ``seq`` (recorded in ``meta["transforms"]``)."""
        if self.normalization == "root":
            return normalize(seq, center=self.center, scale=self.scale, align_view=self.align_view)
        if self.normalization == "box":
            import torch

            from ..skeletons.box import box_normalize

            pos = torch.from_numpy(seq.positions).permute(1, 0, 2, 3)  # (P, T, J, 3): one box per person
            mask = torch.from_numpy(seq.mask).permute(1, 0, 2)
            normed, centre, scale = box_normalize(pos, mask)
            record = {"name": BOX_RECORD, "center": centre.reshape(-1, 3).tolist(), "scale": scale.reshape(-1).tolist()}
            return self._with_record(seq, normed.permute(1, 0, 2, 3).numpy(), record)
        return seq

    def denormalize(self, seq: SkeletonSequence) -> SkeletonSequence:
        """Undo :meth:`normalize` (the most recent record of this processor's kind in ``meta``)."""
        if self.normalization == "root":
            return denormalize(seq)
        if self.normalization == "none":
            return seq
        import torch

        from ..skeletons.box import box_denormalize

        records = list(seq.meta.get("transforms", []))
        idx = max((i for i, r in enumerate(records) if isinstance(r, dict) and r.get("name") == BOX_RECORD),
                  default=None)
        if idx is None:
            raise SkeletonInputError("meta['transforms']", f"a {BOX_RECORD!r} record to invert",
                                     [r.get("name") if isinstance(r, dict) else r for r in records])
        rec = records.pop(idx)
        centre = torch.tensor(rec["center"], dtype=torch.float32).reshape(-1, 1, 1, 3)
        scale = torch.tensor(rec["scale"], dtype=torch.float32).reshape(-1, 1, 1, 1)
        if centre.shape[0] != seq.num_persons:
            raise SkeletonInputError("seq", f"{centre.shape[0]} persons, as when it was normalised", seq.num_persons)
        pos = box_denormalize(torch.from_numpy(seq.positions).permute(1, 0, 2, 3), centre, scale)
        pos = pos.permute(1, 0, 2, 3).numpy()
        pos[~seq.mask] = 0.0
        meta = dict(seq.meta)
        meta["transforms"] = records
        if not records:
            del meta["transforms"]
        return seq.copy(positions=pos, meta=meta)

    @staticmethod
    def _with_record(seq: SkeletonSequence, positions: np.ndarray, record: dict[str, Any]) -> SkeletonSequence:
        meta = dict(seq.meta)
        meta["transforms"] = list(meta.get("transforms", [])) + [record]
        return seq.copy(positions=np.ascontiguousarray(positions, dtype=np.float32), meta=meta)

    # ------------------------------------------------------------------ the pipeline
    def prepare(self, clip: Any, skeleton_format: Any = None, *, name: str = "skeletons[0]") -> SkeletonSequence:
        """One clip -> a normalised sequence in the model's format with at most ``max_frames`` frames."""
        seq = self.to_model_format(self.to_sequence(clip, skeleton_format, name=name), name=name)
        if self.max_frames is not None and seq.num_frames > self.max_frames:
            seq = resample(seq, self.max_frames, mode="uniform")
        return self.normalize(seq)

    @staticmethod
    def augment(seqs: Sequence[SkeletonSequence], augment: Mapping[str, Any] | None,
                per_clip_seeds: bool = False) -> list[SkeletonSequence]:
        """Training augmentation of normalised clips (:func:`~hf_skeleton.skeletons.transforms.augment`
        options plus ``seed``): one generator for the batch, or with ``per_clip_seeds`` clip ``i`` drawn
        from ``seed + i``. ``None`` leaves the clips as they are."""
        if augment is None:
            return list(seqs)
        if not isinstance(augment, Mapping):
            return augment_batch(list(seqs), augment)  # raises the typed error
        if not per_clip_seeds:
            return augment_batch(list(seqs), dict(augment))
        seed = augment.get("seed")
        return [augment_batch([s], {**augment, "seed": None if seed is None else int(seed) + i})[0]
                for i, s in enumerate(seqs)]

    def pad(self, seqs: Sequence[SkeletonSequence]) -> tuple[np.ndarray, np.ndarray]:
        """Prepared clips -> positions float32 and mask bool, zero padded to the longest clip (and, with
        ``persons="all"``, the most persons): (N, T, P, J, 3) / (N, T, P, J) or (N, T, J, 3) / (N, T, J)."""
        if not seqs:
            raise SkeletonInputError("skeletons", "at least one clip", 0)
        T = max(s.num_frames for s in seqs)
        P = max(s.num_persons for s in seqs) if self.persons == "all" else 1
        J = self.skeleton_format.num_joints
        pos = np.zeros((len(seqs), T, P, J, 3), np.float32)
        mask = np.zeros((len(seqs), T, P, J), bool)
        for i, s in enumerate(seqs):
            p = s.num_persons if self.persons == "all" else 1
            pos[i, :s.num_frames, :p] = s.positions[:, :p]
            mask[i, :s.num_frames, :p] = s.mask[:, :p]
        if self.persons == "first":
            return pos[:, :, 0], mask[:, :, 0]
        return pos, mask

    def __call__(self, skeletons: Any, skeleton_format: Any = None, *, augment: Mapping[str, Any] | None = None,
                 per_clip_seeds: bool = False, return_tensors: str | None = "pt", **kwargs: Any) -> BatchFeature:
        """A clip or a list of clips -> ``BatchFeature`` with the positions and mask named by
        ``model_input_names``. ``augment``: see :meth:`augment` (``None`` at inference)."""
        if kwargs:
            raise SkeletonInputError("SkeletonProcessor arguments", "skeleton_format, augment, per_clip_seeds, "
                                     "return_tensors", sorted(kwargs))
        clips = self.as_clip_list(skeletons)
        seqs = [self.prepare(c, skeleton_format, name=f"skeletons[{i}]") for i, c in enumerate(clips)]
        pos, mask = self.pad(self.augment(seqs, augment, per_clip_seeds))
        return BatchFeature(data=dict(zip(self.model_input_names, (pos, mask))), tensor_type=return_tensors)

    @staticmethod
    def as_clip_list(skeletons: Any) -> list[Any]:
        """One clip (sequence, path, dataset row, or a (T, [P,] J, 3) array) or a list of clips -> a list."""
        if skeletons is None:
            raise SkeletonInputError("skeletons", "a clip or a list of clips", None)
        if isinstance(skeletons, (SkeletonSequence, str, Path, Mapping)):
            return [skeletons]
        if (isinstance(skeletons, np.ndarray) or _is_tensor(skeletons)) and skeletons.ndim in (3, 4):
            return [skeletons]
        return list(skeletons)


__all__ = ["NORMALIZATIONS", "PERSONS", "SkeletonProcessor"]
