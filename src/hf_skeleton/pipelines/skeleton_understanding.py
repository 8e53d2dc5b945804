"""``pipeline("skeleton-understanding")``: recognition and description of skeleton clips.

    pipe = pipeline("skeleton-understanding", model="path/to/folder")   # after `import hf_skeleton`
    pipe("clip.json", candidate_labels=["walk around", "sit down"])     # [{"label", "score"}], best first
    pipe(seq, prompt="Describe the motion.")                             # {"generated_text": ...}
    pipe([seq_a, seq_b], candidate_labels=[...])                         # one result per clip
    pipe(array, skeleton_format="kinect_v2", candidate_labels=[...])    # (T, J, 3) or (T, P, J, 3)

Model-agnostic: any model whose processor is a
:class:`~hf_skeleton.processing.base.SkeletonTextProcessor` (SkeletonLLM, LLaMo); inputs (paths,
sequences, arrays with ``skeleton_format``, dataset rows) are read by its ``skeleton_processor``.
``videos=`` (one per clip) is passed through to the processor for models that also read video. Recognition scores every candidate label's likelihood as the answer to the
question (:func:`~hf_skeleton.evaluation.recognition.score_candidate_labels`) and returns the
softmax over candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import Pipeline

from ..errors import SkeletonInputError
from ..evaluation.recognition import score_candidate_labels
from ..processing.base import SkeletonTextProcessor
from ..processing.collators import chat_prompt
from ..skeletons.sequence import SkeletonSequence
from .typed_loading import install as _install_typed_loading

_install_typed_loading()  # pipeline(task, model=folder) raises the checkpoint's typed error

DEFAULT_QUESTION = "What action is the person doing? Answer with the action name."


class SkeletonUnderstandingPipeline(Pipeline):
    """Open-vocabulary recognition (``candidate_labels=``) or free text (``prompt=``) on skeleton clips."""

    _load_processor = True
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def _sanitize_parameters(self, candidate_labels: Sequence[str] | None = None, prompt: str | None = None,
                             question: str | None = None, skeleton_format: str | None = None,
                             videos: Any = None, max_new_tokens: int | None = None,
                             length_normalize: bool | None = None, **generate_kwargs: Any):
        if candidate_labels is not None and prompt is not None:
            raise SkeletonInputError("candidate_labels/prompt", "one of them, not both", "both")
        pre: dict[str, Any] = {}
        if skeleton_format is not None:
            pre["skeleton_format"] = skeleton_format
        if videos is not None:
            pre["videos"] = videos
        fwd: dict[str, Any] = {}
        if candidate_labels is not None:
            if isinstance(candidate_labels, str):
                candidate_labels = [c.strip() for c in candidate_labels.split(",")]
            labels = list(candidate_labels)
            if not labels or any(not isinstance(c, str) or not c.strip() for c in labels):
                raise SkeletonInputError("candidate_labels", "a non-empty list of non-empty strings", candidate_labels)
            fwd["candidate_labels"] = labels
            fwd["question"] = question or DEFAULT_QUESTION
            if length_normalize is not None:
                fwd["length_normalize"] = bool(length_normalize)
        else:
            fwd["prompt"] = prompt or question or "Describe the motion."
            fwd["generate_kwargs"] = {"max_new_tokens": int(max_new_tokens or 64), "do_sample": False,
                                      **generate_kwargs}
        return pre, fwd, {}

    # ------------------------------------------------------------------ inputs
    def _to_sequence(self, item: Any, skeleton_format: str | None) -> SkeletonSequence:
        """One input -> its sequence, read by the processor's ``skeleton_processor`` (which converts,
        resamples and normalises it when the batch is encoded)."""
        if not isinstance(self.processor, SkeletonTextProcessor):
            raise SkeletonInputError("processor", "a SkeletonTextProcessor (SkeletonLLM, LLaMo)",
                                     type(self.processor).__name__)
        return self.processor.skeleton_processor.to_sequence(item, skeleton_format, name="inputs")

    def preprocess(self, inputs: Any, skeleton_format: str | None = None, videos: Any = None) -> dict[str, Any]:
        return {"sequence": self._to_sequence(inputs, skeleton_format), "video": videos}

    # ------------------------------------------------------------------ model
    def _recognise(self, sequences, videos, candidate_labels, question, length_normalize=False):
        scores = score_candidate_labels(self.model, self.processor, sequences, question, candidate_labels,
                                        batch_size=max(1, getattr(self, "_batch_size", None) or 8),
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
        enc = self.processor(skeletons=list(sequences), text=text, return_tensors="pt", padding=True, **kwargs)
        enc = {k: (v.to(self.model.device) if torch.is_tensor(v) else v) for k, v in enc.items()}
        with torch.no_grad():
            out = self.model.generate(**enc, **generate_kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        texts = self.processor.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [{"generated_text": t.strip()} for t in texts]

    def _forward(self, model_inputs: dict[str, Any], candidate_labels=None, question=None, prompt=None,
                 length_normalize: bool = False, generate_kwargs=None) -> dict[str, Any]:
        seqs = [model_inputs["sequence"]]
        videos = None if model_inputs.get("video") is None else [model_inputs["video"]]
        if candidate_labels is not None:
            return {"result": self._recognise(seqs, videos, candidate_labels, question, length_normalize)[0]}
        return {"result": self._generate(seqs, videos, prompt, generate_kwargs or {})[0]}

    def postprocess(self, model_outputs: dict[str, Any]):
        return model_outputs["result"]

    # ------------------------------------------------------------------ batches
    def __call__(self, inputs: Any, **kwargs: Any):
        """One clip -> one result; a list of clips -> a list of results, computed in batches."""
        if not isinstance(inputs, (list, tuple)):
            return super().__call__(inputs, **kwargs)
        if not inputs:
            raise SkeletonInputError("inputs", "at least one clip", 0)
        batch_size = kwargs.pop("batch_size", None)
        pre, fwd, _ = self._sanitize_parameters(**kwargs)
        videos = pre.pop("videos", None)
        if videos is not None and len(videos) != len(inputs):
            raise SkeletonInputError("videos", f"{len(inputs)} videos (one per clip)", len(videos))
        seqs = [self._to_sequence(item, pre.get("skeleton_format")) for item in inputs]
        self._batch_size = batch_size
        self.model.eval()
        if "candidate_labels" in fwd:
            return self._recognise(seqs, videos, fwd["candidate_labels"], fwd["question"],
                                   fwd.get("length_normalize", False))
        size = batch_size or 8
        out = []
        for start in range(0, len(seqs), size):
            vids = None if videos is None else videos[start:start + size]
            out.extend(self._generate(seqs[start:start + size], vids, fwd["prompt"], fwd["generate_kwargs"]))
        return out
