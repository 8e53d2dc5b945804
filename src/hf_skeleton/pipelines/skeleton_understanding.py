"""``pipeline("skeleton-understanding")``: recognition and description of skeleton clips.

    pipe = pipeline("skeleton-understanding", model="path/to/folder")   # after `import hf_skeleton`
    pipe("clip.json", candidate_labels=["walk around", "sit down"])     # [{"label", "score"}], best first
    pipe(seq, prompt="Describe the motion.")                             # {"generated_text": ...}
    pipe([seq_a, seq_b], candidate_labels=[...])                         # one result per clip
    pipe(array, skeleton_format="kinect_v2", candidate_labels=[...])    # (T, J, 3) or (T, P, J, 3)

Model-agnostic: any model whose processor is a
:class:`~hf_skeleton.processing.base.SkeletonTextProcessor` (SkeletonLLM, LLaMo); inputs (paths,
sequences, arrays with ``skeleton_format``, dataset rows) are read by its ``skeleton_processor``.
``videos=`` (one per clip) is passed through to the processor for models that also read video; for such a
model (LLaMo with ``config.use_video``) a clip read from a video (a video path, or a sequence
``load_skeleton("clip.mp4", ...)`` returned) brings its own frames when ``videos=`` is not given: the model
receives the frames and the estimated motion together (:func:`video_frames_of`). Recognition scores every
candidate label's likelihood as the answer to the question (:func:`~hf_skeleton.evaluation.recognition.score_candidate_labels`) and returns the
softmax over candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import Pipeline

from ..errors import SkeletonInputError
from ..evaluation.recognition import score_candidate_labels
from ..processing.base import SkeletonTextProcessor
from ..processing.collators import chat_prompt, left_padding
from ..skeletons.sequence import SkeletonSequence
from .batching import ListBatchingMixin
from .typed_loading import install as _install_typed_loading

_install_typed_loading()  # pipeline(task, model=folder) raises the checkpoint's typed error

DEFAULT_QUESTION = "What action is the person doing? Answer with the action name."


MAX_NEW_TOKENS = 4096
MAX_ABS_COORDINATE = 1e6  # metres, millimetres and pixels all stay far below; 1e30 is damage, not a pose


def checked_clip(seq: SkeletonSequence, person: int = 0, allow_2d: bool = False) -> SkeletonSequence:
    """The input policies of the understanding pipeline, explicit instead of silent:

    - the models read one person: ``person`` picks which (default 0, the first); an index beyond the
      clip's persons, or a chosen person never observed, is a typed error;
    - observed coordinates must be finite and within +-1e6 (NaN marks an unobserved joint);
    - the models were trained on 3D joints: a 2D clip (a 2D format, ``meta["is_2d"]``, or z = 0 on every
      observed joint) is refused unless ``allow_2d=True``, which reads it as a skeleton in the z = 0 plane.
    """
    if person >= seq.num_persons:
        raise SkeletonInputError("person", f"an index below the clip's {seq.num_persons} person(s)", person)
    if seq.num_persons > 1 or person:
        seq = seq.copy(positions=seq.positions[:, person:person + 1].copy(), mask=seq.mask[:, person:person + 1].copy(),
                       orientations=None if seq.orientations is None else seq.orientations[:, person:person + 1].copy())
        if not seq.mask.any():
            raise SkeletonInputError("person", "a person observed in at least one frame", person)
    seen = seq.positions[seq.mask]
    if not np.isfinite(seen).all() or np.abs(seen).max() > MAX_ABS_COORDINATE:
        worst = seen[~np.isfinite(seen)][:1] if not np.isfinite(seen).all() else np.abs(seen).max()
        raise SkeletonInputError("inputs", f"finite joint coordinates within +-{MAX_ABS_COORDINATE:g}", worst)
    flat = seq.format.dims == 2 or seq.meta.get("is_2d") or not np.any(seen[:, 2])
    if flat and not allow_2d:
        raise SkeletonInputError("inputs", "a 3D clip (the models read 3D joints; lift 2D keypoints first, or pass "
                                 "allow_2d=True to read them as a skeleton in the z = 0 plane)", "2D joints")
    return seq


def video_frames_of(item: Any, seq: SkeletonSequence, num_frames: int) -> np.ndarray | None:
    """The frames (F, H, W, 3) uint8 of the video a clip was estimated from, or ``None``.

    ``item`` is the pipeline's input and ``seq`` the sequence read from it: a video path, or a sequence
    whose ``meta`` holds ``frame_indices`` and a ``source`` video file (what ``load_skeleton("clip.mp4")``
    returns). The ``num_frames`` frames are sampled uniformly among the frames the skeleton was estimated
    on (``meta["frame_indices"]``: a ``max_frames``/``stride``/``start`` read gives the matching frames),
    and only those are decoded.
    """
    from pathlib import Path

    from ..skeletons.readers.video_pose import VIDEO_EXTENSIONS
    from ..video import load_video, sample_frame_indices

    source = item if isinstance(item, (str, Path)) else seq.meta.get("source")
    ids = seq.meta.get("frame_indices")
    if source is None or ids is None or not len(ids) or Path(str(source)).suffix.lower() not in VIDEO_EXTENSIONS:
        return None
    if not Path(str(source)).is_file():
        return None
    ids = np.asarray(ids, dtype=np.int64)
    return load_video(source, indices=ids[sample_frame_indices(len(ids), num_frames)])


GENERATE_KWARGS = ("do_sample", "temperature", "top_p", "top_k", "num_beams", "repetition_penalty",
                   "no_repeat_ngram_size", "min_new_tokens", "generation_config")


class SkeletonUnderstandingPipeline(ListBatchingMixin, Pipeline):
    """Open-vocabulary recognition (``candidate_labels=``) or free text (``prompt=``) on skeleton clips.

    Input policies (:func:`checked_clip`): one person is read (``person=``, default 0); coordinates must be
    finite and sane; 2D clips need ``allow_2d=True``. ``max_new_tokens``: 1..4096 (default 64).

    Inputs: a clip (path, sequence, array with ``skeleton_format``, dataset row), a list of them, a
    generator or a ``KeyDataset``, with transformers' ``batch_size`` / ``num_workers``; ``videos=`` gives
    one video per clip (a list beside a list of clips), or pass ``{"skeleton": clip, "video": frames}``.
    For a model that reads video, a clip estimated from a video (a video path, or the sequence
    ``load_skeleton("clip.mp4", max_frames=...)`` returned) is given its own frames unless ``videos=`` is.
    Recognition: ``top_k`` keeps the k best labels (default all); ``hypothesis_template`` (default
    ``"{}"``) turns each label into the answer that is scored, e.g. ``"The person is {}."``, as in
    zero-shot classification. Text: ``max_new_tokens`` and the generation options in
    :data:`GENERATE_KWARGS`. Any other keyword is a typed error.
    """

    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def _sanitize_parameters(self, candidate_labels: Sequence[str] | None = None, prompt: str | None = None,
                             question: str | None = None, skeleton_format: str | None = None,
                             videos: Any = None, max_new_tokens: int | None = None,
                             length_normalize: bool | None = None, person: int = 0, allow_2d: bool = False,
                             top_k: int | None = None, hypothesis_template: str | None = None,
                             **generate_kwargs: Any):
        if candidate_labels is not None and prompt is not None:
            raise SkeletonInputError("candidate_labels/prompt", "one of them, not both", "both")
        if isinstance(person, bool) or not isinstance(person, int) or person < 0:
            raise SkeletonInputError("person", "the index (>= 0) of the person to read", person)
        if max_new_tokens is not None and (isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int)
                                           or not 1 <= max_new_tokens <= MAX_NEW_TOKENS):
            raise SkeletonInputError("max_new_tokens", f"an integer in 1..{MAX_NEW_TOKENS}", max_new_tokens)
        unknown = sorted(set(generate_kwargs) - set(GENERATE_KWARGS))
        if unknown or (candidate_labels is not None and generate_kwargs):
            raise SkeletonInputError("skeleton-understanding arguments", "candidate_labels, prompt, question, "
                                     "skeleton_format, videos, person, allow_2d, top_k, hypothesis_template, "
                                     "length_normalize; with prompt also max_new_tokens and "
                                     + ", ".join(GENERATE_KWARGS), unknown or sorted(generate_kwargs))
        pre: dict[str, Any] = {"person": person, "allow_2d": bool(allow_2d)}
        if skeleton_format is not None:
            pre["skeleton_format"] = skeleton_format
        if videos is not None:
            pre["videos"] = videos
        fwd: dict[str, Any] = {}
        post: dict[str, Any] = {}
        if candidate_labels is not None:
            if isinstance(candidate_labels, str):
                candidate_labels = [c.strip() for c in candidate_labels.split(",")]
            labels = list(candidate_labels)
            if not labels or any(not isinstance(c, str) or not c.strip() for c in labels):
                raise SkeletonInputError("candidate_labels", "a non-empty list of non-empty strings", candidate_labels)
            template = "{}" if hypothesis_template is None else hypothesis_template
            if not isinstance(template, str) or template.count("{}") != 1:
                raise SkeletonInputError("hypothesis_template", "a string with one '{}' where the label goes",
                                         hypothesis_template)
            fwd["candidate_labels"] = labels
            fwd["answers"] = [template.format(c) for c in labels]
            fwd["question"] = question or DEFAULT_QUESTION
            if length_normalize is not None:
                fwd["length_normalize"] = bool(length_normalize)
            if top_k is not None:
                if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
                    raise SkeletonInputError("top_k", "a positive number of labels to return", top_k)
                post["top_k"] = top_k
        else:
            if hypothesis_template is not None:
                raise SkeletonInputError("hypothesis_template", "candidate_labels beside it", "a prompt")
            if top_k is not None:
                generate_kwargs["top_k"] = top_k  # with prompt=, top_k is the sampling option
            fwd["prompt"] = prompt or question or "Describe the motion."
            fwd["generate_kwargs"] = {"max_new_tokens": int(max_new_tokens or 64), "do_sample": False,
                                      **generate_kwargs}
        return pre, fwd, post

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any):
        """transformers' ``Pipeline.__call__``; a list of ``videos`` beside a list of clips is paired up."""
        videos = kwargs.get("videos")
        if isinstance(inputs, (list, tuple)) and videos is not None:
            if len(videos) != len(inputs):
                raise SkeletonInputError("videos", f"{len(inputs)} videos (one per clip)", len(videos))
            kwargs = {k: v for k, v in kwargs.items() if k != "videos"}
            inputs = [{"skeleton": clip, "video": video} for clip, video in zip(inputs, videos)]
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(inputs, list) and not inputs:
            raise SkeletonInputError("inputs", "at least one clip", 0)
        return super().__call__(inputs, *args, **kwargs)

    # ------------------------------------------------------------------ inputs
    def _to_sequence(self, item: Any, skeleton_format: str | None, person: int = 0,
                     allow_2d: bool = False) -> SkeletonSequence:
        """One input -> its sequence, read by the processor's ``skeleton_processor`` (which converts,
        resamples and normalises it when the batch is encoded), after the input policies: person
        ``person`` of a multi-person clip, finite coordinates of sane size, 3D unless ``allow_2d``."""
        if not isinstance(self.processor, SkeletonTextProcessor):
            raise SkeletonInputError("processor", "a SkeletonTextProcessor (SkeletonLLM, LLaMo)",
                                     type(self.processor).__name__)
        seq = self.processor.skeleton_processor.to_sequence(item, skeleton_format, name="inputs")
        return checked_clip(seq, person=person, allow_2d=allow_2d)

    def preprocess(self, inputs: Any, skeleton_format: str | None = None, videos: Any = None, person: int = 0,
                   allow_2d: bool = False) -> dict[str, Any]:
        if isinstance(inputs, dict) and set(inputs) <= {"skeleton", "video"} and "skeleton" in inputs:
            inputs, videos = inputs["skeleton"], inputs.get("video", videos)
        seq = self._to_sequence(inputs, skeleton_format, person, allow_2d)
        if videos is None and getattr(self.model.config, "use_video", False):
            videos = video_frames_of(inputs, seq, int(getattr(self.processor, "num_video_frames", 8)))
        return {"sequence": seq, "video": videos}

    # ------------------------------------------------------------------ model
    def _recognise(self, sequences, videos, candidate_labels, answers, question, length_normalize=False):
        scores = score_candidate_labels(self.model, self.processor, sequences, question, answers,
                                        batch_size=max(8, len(sequences) * len(answers)),
                                        length_normalize=length_normalize, videos=videos)
        probs = torch.softmax(scores, dim=-1)
        results = []
        for row in probs:
            order = torch.argsort(row, descending=True).tolist()
            results.append([{"label": candidate_labels[k], "score": float(row[k])} for k in order])
        return results

    def _generate(self, sequences, videos, prompt, generate_kwargs):
        text = [chat_prompt(self.processor, prompt)] * len(sequences)
        kwargs = {} if videos is None else {"videos": list(videos)}
        with left_padding(self.processor):  # batched generation continues every prompt from the last column
            enc = self.processor(skeletons=list(sequences), text=text, return_tensors="pt", padding=True, **kwargs)
        enc = {k: (v.to(self.model.device) if torch.is_tensor(v) else v) for k, v in enc.items()}
        with torch.no_grad():
            out = self.model.generate(**enc, **generate_kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        texts = self.processor.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [{"generated_text": t.strip()} for t in texts]

    def _forward(self, model_inputs: dict[str, Any], candidate_labels=None, answers=None, question=None, prompt=None,
                 length_normalize: bool = False, generate_kwargs=None) -> dict[str, Any]:
        items = model_inputs.get("batch", [model_inputs])
        seqs = [item["sequence"] for item in items]
        videos = [item["video"] for item in items]
        if all(v is None for v in videos):
            videos = None
        elif any(v is None for v in videos):
            raise SkeletonInputError("videos", "a video for every clip of a batch, or for none", "some missing")
        if candidate_labels is not None:
            results = self._recognise(seqs, videos, candidate_labels, answers or candidate_labels, question,
                                      length_normalize)
        else:
            results = self._generate(seqs, videos, prompt, generate_kwargs or {})
        return {"result": results if "batch" in model_inputs else results[0]}

    def postprocess(self, model_outputs: dict[str, Any], top_k: int | None = None):
        result = model_outputs["result"]
        return result[:top_k] if top_k is not None and isinstance(result, list) else result
