"""The explicit interface of the skeleton models' processors, and how their SkeletonProcessor is saved.

:class:`SkeletonModelProcessor` (VGMT, Superman, and the two below) holds a
:class:`~hf_skeleton.processing.SkeletonProcessor` as ``skeleton_processor``.
:class:`SkeletonTextProcessor` (SkeletonLLM, LLaMo) adds what the collators, the recognition scorer
and the understanding pipeline use, and nothing else::

    processor.tokenizer                  # the language model's tokenizer (chat template included)
    processor.placeholder_token          # the text placeholder one clip expands from ("<skeleton>", "<motion>")
    processor.placeholder_token_ids      # ids that never carry a loss (placeholders and their expansion)
    processor.skeleton_processor         # every clip goes through it (input -> normalised tensors)
    processor(text=[...], skeletons=[...], return_tensors="pt", padding=True, ...)

Saving. transformers 5.25 infers a processor's sub-processors from ``__init__`` parameter names that
contain ``tokenizer``, ``image_processor``, ``video_processor``, ``feature_extractor`` or
``audio_processor`` (``ProcessorMixin.get_attributes``), and nests every non-tokenizer sub-processor
inside ``processor_config.json``. ``skeleton_processor`` is none of these names, so this base class
saves it itself, as its own ``preprocessor_config.json`` (``FeatureExtractionMixin.save_pretrained``),
and loads it back in ``_resolve_subprocessors``. Folders saved before it existed hold the skeleton
options (``format``, ``center``, ``scale``, ...) in ``processor_config.json``: they are still
constructor arguments, so such a folder loads unchanged and the constructor builds the
SkeletonProcessor from them (:meth:`SkeletonModelProcessor._skeleton_processor_for_folder` covers
folders with neither).
"""

from __future__ import annotations

import json
import os
from typing import Any

from transformers.processing_utils import ProcessorMixin
from transformers.utils import FEATURE_EXTRACTOR_NAME, cached_file

from ..errors import SkeletonInputError
from ..modeling_utils import check_processor_folder
from .skeleton_processor import SkeletonProcessor

_HUB_KWARGS = ("cache_dir", "force_download", "proxies", "token", "local_files_only", "revision", "subfolder")


def skeleton_processor_classes() -> dict[str, type]:
    """SkeletonProcessor and its subclasses by class name (what ``feature_extractor_type`` holds)."""
    found, todo = {}, [SkeletonProcessor]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


class SkeletonModelProcessor(ProcessorMixin):
    """A model processor holding a :class:`SkeletonProcessor` as ``skeleton_processor`` (saved as
    ``preprocessor_config.json`` beside ``processor_config.json``)."""

    skeleton_processor: SkeletonProcessor | None

    def _set_skeleton_processor(self, skeleton_processor: SkeletonProcessor | None, **options: Any) -> None:
        """Use ``skeleton_processor`` with ``options`` (non-None values) changed, or build one from them."""
        if skeleton_processor is None:
            skeleton_processor = self._default_skeleton_processor(**options)
        elif isinstance(skeleton_processor, dict):  # a nested dict, as ProcessorMixin.to_dict would write it
            cls = skeleton_processor_classes().get(skeleton_processor.get("feature_extractor_type"), SkeletonProcessor)
            skeleton_processor = cls(**skeleton_processor).replace(**options)
        elif isinstance(skeleton_processor, SkeletonProcessor):
            skeleton_processor = skeleton_processor.replace(**options)
        else:
            raise SkeletonInputError("skeleton_processor", "a SkeletonProcessor", type(skeleton_processor).__name__)
        self.skeleton_processor = skeleton_processor

    def _default_skeleton_processor(self, **options: Any) -> SkeletonProcessor:
        """The model's SkeletonProcessor from the constructor's skeleton options (None: the default).
        An interface hook: each model processor defines it (tests/processing checks that all do)."""
        raise NotImplementedError(f"{type(self).__name__} must define _default_skeleton_processor")

    @property
    def skeleton_format(self):
        """The model's :class:`~hf_skeleton.SkeletonFormat`."""
        return self.skeleton_processor.skeleton_format

    # ------------------------------------------------------------------ save / load
    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.pop("skeleton_processor", None)  # saved in its own file
        return out

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs: Any):
        """``processor_config.json`` (+ tokenizer files and chat template) and the SkeletonProcessor's
        ``preprocessor_config.json``."""
        os.makedirs(save_directory, exist_ok=True)
        if push_to_hub:
            from huggingface_hub import create_repo

            commit_message = kwargs.pop("commit_message", None)
            repo_id = kwargs.pop("repo_id", os.path.basename(os.path.normpath(str(save_directory))))
            token = kwargs.get("token")
            repo_id = create_repo(repo_id, exist_ok=True, **kwargs).repo_id
            stamps = self._get_files_timestamps(save_directory)
        files = list(super().save_pretrained(save_directory))
        if self.skeleton_processor is not None:
            files += self.skeleton_processor.save_pretrained(save_directory)
        if push_to_hub:
            self._upload_modified_files(save_directory, repo_id, stamps, commit_message=commit_message, token=token)
        return files

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args: Any, **kwargs: Any):
        """transformers' loading; a folder whose tokenizer is a reference to its backbone's
        (:mod:`hf_skeleton.tokenizer_reference`) gets it rebuilt."""
        if "tokenizer" in cls.get_attributes():
            check_processor_folder(pretrained_model_name_or_path)
            if kwargs.get("tokenizer") is None:
                from ..tokenizer_reference import referenced_tokenizer

                tokenizer = referenced_tokenizer(pretrained_model_name_or_path)
                if tokenizer is not None:
                    kwargs["tokenizer"] = tokenizer
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    @classmethod
    def _resolve_subprocessors(cls, pretrained_model_name_or_path, processor_dict, **kwargs):
        given = kwargs.pop("skeleton_processor", None)
        processor_dict, kwargs = super()._resolve_subprocessors(pretrained_model_name_or_path, processor_dict, **kwargs)
        if given is not None:
            processor_dict["skeleton_processor"] = given
            return processor_dict, kwargs
        hub = {k: kwargs[k] for k in _HUB_KWARGS if kwargs.get(k) is not None}
        saved = cls._saved_skeleton_processor(pretrained_model_name_or_path, hub)
        if saved is None:  # a folder saved before the SkeletonProcessor: its options are in processor_dict
            saved = cls._skeleton_processor_for_folder(pretrained_model_name_or_path, processor_dict, hub)
        if saved is not None:
            processor_dict["skeleton_processor"] = saved
        return processor_dict, kwargs

    @staticmethod
    def _saved_skeleton_processor(folder, hub: dict[str, Any]) -> SkeletonProcessor | None:
        path = cached_file(str(folder), FEATURE_EXTRACTOR_NAME, _raise_exceptions_for_missing_entries=False,
                           _raise_exceptions_for_connection_errors=False, **hub)
        if path is None:
            return None
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        cls = skeleton_processor_classes().get(data.get("feature_extractor_type"))
        return None if cls is None else cls.from_dict(data)

    @classmethod
    def _skeleton_processor_for_folder(cls, folder, processor_dict: dict[str, Any],
                                       hub: dict[str, Any]) -> SkeletonProcessor | None:
        """For a folder without ``preprocessor_config.json``: ``None`` lets the constructor build the
        SkeletonProcessor from the options ``processor_dict`` holds (the old layout). Models whose old
        folders hold no skeleton options read them from the model's ``config.json`` here."""
        return None


class SkeletonTextProcessor(SkeletonModelProcessor):
    """The interface of a processor whose text carries clips through a placeholder (see the module
    docstring): ``tokenizer``, ``placeholder_token``, ``placeholder_token_ids``, ``skeleton_processor``."""

    # Interface hooks: each text processor defines both (tests/processing checks that all do).
    @property
    def placeholder_token(self) -> str:
        """The string one clip's placeholder is written as in the text."""
        raise NotImplementedError(f"{type(self).__name__} must define placeholder_token")

    @property
    def placeholder_token_ids(self) -> list[int]:
        """Token ids that never carry a training loss (the placeholders and what they expand to)."""
        raise NotImplementedError(f"{type(self).__name__} must define placeholder_token_ids")


class LegacyTextProcessor:
    """The :class:`SkeletonTextProcessor` interface over a processor written against the older protocol
    (``tokenizer``, ``skeleton_token`` and optionally ``placeholder_token_ids``; e.g. a user's processor
    that tokenises motion as discrete codes). Calls go to the wrapped processor."""

    def __init__(self, processor: Any):
        token = getattr(processor, "placeholder_token", None) or getattr(processor, "skeleton_token", None)
        tokenizer = getattr(processor, "tokenizer", None)
        if not isinstance(token, str) or not token or tokenizer is None or not callable(processor):
            raise SkeletonInputError("processor", "a SkeletonTextProcessor (tokenizer, placeholder_token, "
                                     "placeholder_token_ids, skeleton_processor)", type(processor).__name__)
        self.processor = processor
        self.tokenizer = tokenizer
        self.placeholder_token = token
        self.placeholder_token_ids = list(getattr(processor, "placeholder_token_ids", None) or ())
        self.skeleton_processor = getattr(processor, "skeleton_processor", None)

    def __call__(self, *args: Any, **kwargs: Any):
        return self.processor(*args, **kwargs)


def as_text_processor(processor: Any) -> SkeletonTextProcessor | LegacyTextProcessor:
    """``processor`` itself when it is a :class:`SkeletonTextProcessor`, else its
    :class:`LegacyTextProcessor` view (a typed error when it has neither interface)."""
    if isinstance(processor, SkeletonTextProcessor):
        return processor
    if isinstance(processor, LegacyTextProcessor):
        return processor
    return LegacyTextProcessor(processor)


__all__ = ["LegacyTextProcessor", "SkeletonModelProcessor", "SkeletonTextProcessor", "as_text_processor",
           "skeleton_processor_classes"]
