"""VGMTProcessor: clips -> VGMT inputs, with the [-1, 1] box normalisation and its inverse.

``processor(skeletons=[...])`` returns a ``BatchFeature`` with ``skeletons`` (B, T, J, 3) in [-1, 1] and
``skeleton_mask`` (B, T, J) (person 0 of each clip, zero padded), what :meth:`VGMTModel.forward` and
:meth:`VGMTModel.encode` read. :meth:`VGMTProcessor.normalize` / :meth:`VGMTProcessor.denormalize` map a
whole sequence (each person by its own box) into the model's units and back; both are the one box
normalisation of :mod:`hf_skeleton.skeletons.box`, which :meth:`VGMTModel.reconstruct` also uses.

Saved as ``processor_config.json`` + the SkeletonProcessor's ``preprocessor_config.json``; a folder with
neither (a model saved alone, such as the embedded ``vgmt-cmu``) loads its format from ``config.json``.
"""

from __future__ import annotations

from typing import Any

from transformers import BatchFeature

from ...errors import SkeletonInputError
from ...processing.base import SkeletonModelProcessor
from ...processing.skeleton_processor import SkeletonProcessor
from ...skeletons.sequence import SkeletonSequence


def vgmt_skeleton_processor(format: Any, max_frames: int | None = None) -> SkeletonProcessor:
    """The SkeletonProcessor of VGMT-tokenised motion: the model's format, box normalisation, person 0."""
    return SkeletonProcessor(format=format, max_frames=max_frames, normalization="box", persons="first",
                             model_input_names=("skeletons", "skeleton_mask"))


class VGMTProcessor(SkeletonModelProcessor):
    """Any clip -> VGMT's normalised motion tensors; :meth:`denormalize` maps outputs back.

    Args:
        format: the model's skeleton format (``config.format``); clips of another format are
            converted by joint name.
        max_frames: longer clips are resampled uniformly to this many frames (``None``: kept whole).
        skeleton_processor: the :class:`~hf_skeleton.processing.SkeletonProcessor` (default: built from
            ``format`` and ``max_frames``; given ones of these override its options).
    """

    def __init__(self, format: Any = None, max_frames: int | None = None,
                 skeleton_processor: SkeletonProcessor | None = None, **kwargs: Any):
        self._set_skeleton_processor(skeleton_processor, format=format, max_frames=max_frames)
        if self.skeleton_processor.normalization != "box":
            raise SkeletonInputError("VGMTProcessor.skeleton_processor", "box normalisation",
                                     self.skeleton_processor.normalization)
        super().__init__(**kwargs)

    def _default_skeleton_processor(self, format: Any = None, max_frames: int | None = None) -> SkeletonProcessor:
        if format is None:
            raise SkeletonInputError("VGMTProcessor.format", "the model's skeleton format (config.format)", None)
        return vgmt_skeleton_processor(format, max_frames)

    @classmethod
    def from_config(cls, config: Any, **kwargs: Any) -> VGMTProcessor:
        """The processor of a :class:`~hf_skeleton.VGMTConfig` (its format)."""
        return cls(format=config.format, **kwargs)

    @classmethod
    def _skeleton_processor_for_folder(cls, folder, processor_dict: dict[str, Any],
                                       hub: dict[str, Any]) -> SkeletonProcessor | None:
        if processor_dict.get("format") is not None:
            return None
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(folder, **hub)
        if config.model_type != "vgmt":
            raise SkeletonInputError("folder", "a VGMT processor or model folder", config.model_type)
        return vgmt_skeleton_processor(config.format, processor_dict.get("max_frames"))

    # ------------------------------------------------------------------ the box normalisation
    def normalize(self, seq: SkeletonSequence) -> SkeletonSequence:
        """``seq`` with each person in [-1, 1] by its own box (recorded in ``meta["transforms"]``)."""
        return self.skeleton_processor.normalize(seq)

    def denormalize(self, seq: SkeletonSequence) -> SkeletonSequence:
        """Undo :meth:`normalize` (e.g. on a decoded sequence that kept the input's meta)."""
        return self.skeleton_processor.denormalize(seq)

    def __call__(self, skeletons: Any = None, skeleton_format: Any = None, return_tensors: str | None = "pt",
                 **kwargs: Any) -> BatchFeature:
        """A clip or a list of clips -> ``skeletons`` (B, T, J, 3) in [-1, 1] and ``skeleton_mask`` (B, T, J)."""
        return self.skeleton_processor(skeletons, skeleton_format, return_tensors=return_tensors, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return list(self.skeleton_processor.model_input_names)


__all__ = ["VGMTProcessor", "vgmt_skeleton_processor"]
