"""The skeleton-understanding pipeline, loaded offline from a saved folder after `import hf_skeleton`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import pipeline

import hf_skeleton as hs
from hf_skeleton import SkeletonFormatError, SkeletonInputError
from hf_skeleton.evaluation.recognition import score_candidate_labels
from hf_skeleton.skeletons.synthetic import synthetic_clip
from hf_skeleton.testing import QWEN_VISION_TOKENS, build_tiny_tokenizer, tiny_qwen2_5_vl_config
from hf_skeleton.training.collators import chat_prompt

LABELS = ["walk around", "sit down", "hand waving"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    tok = build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS + ("<skeleton>",))
    torch.manual_seed(0)
    config = hs.SkeletonLLMConfig(hs.DrActionConfig(format="kinect_v1", num_frames=2, image_size=56,
                                                    backend="torch"), tiny_qwen2_5_vl_config(tok))
    model = hs.SkeletonLLMForConditionalGeneration(config)
    with torch.no_grad():  # a wide spread, so that greedy tokens depend on the prompt and the clip
        for p in model.model.language_model.parameters():
            if p.ndim == 2:
                p.normal_(0.0, 0.2)
    processor = hs.SkeletonLLMProcessor.from_model_config(config, tok)
    path = tmp_path_factory.mktemp("skllm")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pipe(folder):
    return pipeline("skeleton-understanding", model=str(folder))


def _clip(frames=12):
    return synthetic_clip("walk", frames).to_format("kinect_v1")


def test_plain_folder_no_remote_code(folder, pipe):
    config = json.loads((folder / "config.json").read_text())
    assert "custom_pipelines" not in config
    assert type(pipe.model) is hs.SkeletonLLMForConditionalGeneration
    assert type(pipe.processor) is hs.SkeletonLLMProcessor


def test_candidate_labels_scores_best_first(pipe, nucla_dir):
    path = sorted(nucla_dir.glob("*.json"))[0]
    out = pipe(str(path), candidate_labels=LABELS)
    assert [set(r) for r in out] == [{"label", "score"}] * 3
    scores = [r["score"] for r in out]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-5
    assert {r["label"] for r in out} == set(LABELS)
    # the scores are the softmax of the candidate log-likelihoods
    seq = hs.load_skeleton(path)
    ll = score_candidate_labels(pipe.model, pipe.processor, [seq], "What action is the person doing? Answer with "
                                "the action name.", LABELS)
    probs = torch.softmax(ll[0], -1)
    assert {LABELS[k]: float(probs[k]) for k in range(3)} == pytest.approx({r["label"]: r["score"] for r in out},
                                                                             abs=1e-5)


def test_inputs_sequence_array_and_batch(pipe):
    seq = _clip()
    one = pipe(seq, candidate_labels=LABELS)
    arr = pipe(seq.positions, skeleton_format="kinect_v1", candidate_labels=LABELS)
    assert [r["label"] for r in one] == [r["label"] for r in arr]
    assert [r["score"] for r in one] == pytest.approx([r["score"] for r in arr], abs=1e-5)
    batch = pipe([seq, _clip(7), seq], candidate_labels=LABELS, batch_size=4)
    assert len(batch) == 3
    assert [r["score"] for r in batch[0]] == pytest.approx([r["score"] for r in one], abs=1e-5)
    assert [r["score"] for r in batch[2]] == pytest.approx([r["score"] for r in one], abs=1e-5)


def test_prompt_generates_text(pipe):
    out = pipe(_clip(), prompt="Describe the motion.", max_new_tokens=4)
    # the model's own greedy continuation of the chat prompt with the clip's frames
    enc = pipe.processor(skeletons=[_clip()], text=[chat_prompt(pipe.processor, "Describe the motion.")])
    new = pipe.model.generate(**enc, max_new_tokens=4, do_sample=False)[0, enc["input_ids"].shape[1]:]
    assert len(new) == 4
    assert out == {"generated_text": pipe.processor.tokenizer.decode(new, skip_special_tokens=True).strip()}
    many = pipe([_clip(), _clip(5)], prompt="Describe the motion.", max_new_tokens=4)
    assert len(many) == 2 and many[0] == out


def test_cross_format_clip_runs(pipe, humanml3d_dir):
    seq = hs.load_skeleton(humanml3d_dir / "new_joints" / "012314.npy")
    assert seq.format.name != "kinect_v1"
    out = pipe(seq, candidate_labels=LABELS)
    assert len(out) == 3


def test_wrong_inputs_raise_clear_errors(pipe):
    with pytest.raises(SkeletonFormatError):
        pipe(np.zeros((5, 20, 3), np.float32), skeleton_format="no_such_format", candidate_labels=LABELS)
    with pytest.raises(SkeletonInputError, match="joints"):
        pipe(np.zeros((5, 17, 3), np.float32), skeleton_format="kinect_v1", candidate_labels=LABELS)
    with pytest.raises(SkeletonInputError, match="empty clip|T >= 1"):
        pipe(np.zeros((0, 20, 3), np.float32), skeleton_format="kinect_v1", candidate_labels=LABELS)
    with pytest.raises(SkeletonInputError, match="empty clip"):
        pipe(np.full((4, 20, 3), np.nan, np.float32), skeleton_format="kinect_v1", candidate_labels=LABELS)
    with pytest.raises(SkeletonInputError, match="skeleton_format"):
        pipe(np.zeros((5, 20, 3), np.float32), candidate_labels=LABELS)
    with pytest.raises(SkeletonInputError, match="candidate_labels"):
        pipe(_clip(), candidate_labels=[])
    with pytest.raises(SkeletonInputError, match="not both"):
        pipe(_clip(), candidate_labels=LABELS, prompt="x")
    with pytest.raises(SkeletonInputError, match="path"):
        pipe(12345, candidate_labels=LABELS)


def test_input_policies_are_explicit(pipe, nucla_dir):
    """Issue 16: which person, what 2D input means, absurd coordinates and bad generation lengths."""
    clip = _clip()
    two = hs.SkeletonSequence(np.stack([clip.positions[:, 0], clip.positions[:, 0] + 1.0], axis=1),
                              mask=np.concatenate([clip.mask, clip.mask], axis=1), format=clip.format, fps=clip.fps)
    first = pipe(clip, candidate_labels=LABELS)
    assert pipe(two, candidate_labels=LABELS) == first  # person 0 by default, as documented
    with pytest.raises(SkeletonInputError, match="person"):
        pipe(two, candidate_labels=LABELS, person=2)
    with pytest.raises(SkeletonInputError, match="person"):
        pipe(clip, candidate_labels=LABELS, person=-1)
    huge = clip.copy(positions=clip.positions * 1e30)
    with pytest.raises(SkeletonInputError, match="finite joint coordinates"):
        pipe(huge, candidate_labels=LABELS)
    flat = clip.copy(positions=clip.positions * np.array([1.0, 1.0, 0.0], np.float32))
    with pytest.raises(SkeletonInputError, match="3D clip"):
        pipe(flat, candidate_labels=LABELS)
    assert len(pipe(flat, candidate_labels=LABELS, allow_2d=True)) == len(LABELS)
    for bad in (0, -1, 10**6, 2.5):
        with pytest.raises(SkeletonInputError, match="max_new_tokens"):
            pipe(clip, prompt="Describe the motion.", max_new_tokens=bad)


def test_batching_follows_transformers_pipelines(pipe):
    """Issue 20: generators and KeyDataset with batch_size=2 work; a list call leaves the stored batch size alone."""
    from datasets import Dataset
    from transformers.pipelines.pt_utils import KeyDataset

    from hf_skeleton.dataset_tools.features import sequence_to_example

    clips = [_clip(), _clip(7), _clip(9)]
    single = [pipe(c, candidate_labels=LABELS) for c in clips]
    batched = pipe(clips, candidate_labels=LABELS, batch_size=2)
    streamed = list(pipe((c for c in clips), candidate_labels=LABELS, batch_size=2))
    rows = Dataset.from_list([sequence_to_example(c, id=str(i)) for i, c in enumerate(clips)])
    keyed = list(pipe(KeyDataset(rows.with_format(None), "positions"), skeleton_format="kinect_v1",
                      candidate_labels=LABELS, batch_size=2))
    as_rows = pipe([rows[i] for i in range(3)], candidate_labels=LABELS, batch_size=2)  # dataset rows as inputs
    for out in (batched, streamed, keyed, as_rows):
        assert [[r["label"] for r in o] for o in out] == [[r["label"] for r in o] for o in single]
        assert [r["score"] for o in out for r in o] == pytest.approx([r["score"] for o in single for r in o],
                                                                     abs=1e-4)
    assert pipe._batch_size is None  # the list call did not change later calls' batch size
    many = pipe(clips, prompt="Describe the motion.", max_new_tokens=3, batch_size=2)
    assert len(many) == 3 and all(set(m) == {"generated_text"} for m in many)


def test_top_k_hypothesis_template_and_unknown_keywords(pipe):
    clip = _clip()
    full = pipe(clip, candidate_labels=LABELS)
    assert pipe(clip, candidate_labels=LABELS, top_k=2) == full[:2]
    templated = pipe(clip, candidate_labels=LABELS, hypothesis_template="The person is doing: {}.")
    ll = score_candidate_labels(pipe.model, pipe.processor, [clip], "What action is the person doing? Answer with "
                                "the action name.", [f"The person is doing: {c}." for c in LABELS])
    probs = torch.softmax(ll[0], -1)
    assert {r["label"]: r["score"] for r in templated} == pytest.approx(
        {LABELS[k]: float(probs[k]) for k in range(3)}, abs=1e-5)
    for bad in ({"foo": 1}, {"top_k": 0}, {"hypothesis_template": "no slot"}, {"temperature": 0.5}):
        with pytest.raises(SkeletonInputError):
            pipe(clip, candidate_labels=LABELS, **bad)
    with pytest.raises(SkeletonInputError, match="foo"):
        pipe(clip, prompt="Describe the motion.", foo=1)
    sampled = pipe(clip, prompt="Describe the motion.", max_new_tokens=3, do_sample=True, temperature=0.7, top_k=5)
    assert set(sampled) == {"generated_text"}
