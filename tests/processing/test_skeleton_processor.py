"""SkeletonProcessor: every input kind -> the model's tensors, its own preprocessor_config.json, normalisation
inverted by its denormalise; the model processors delegate to it (same tensors as the steps spelled out)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor, AutoProcessor

import hf_skeleton as hs
from hf_skeleton.dataset_tools import example_to_sequence, sequence_to_example
from hf_skeleton.models.vgmt import normalize_motion
from hf_skeleton.processing import SkeletonProcessor, SkeletonTextProcessor, as_text_processor
from hf_skeleton.skeletons.transforms import normalize, resample

# processor files as the embedded models were saved before the SkeletonProcessor existed (issue 13)
OLD_LAYOUT = Path(__file__).resolve().parents[1] / "fixtures" / "old_processor_layout"
NUCLA = ("a04_s01_e00_v01.json", "a11_s03_e01_v03.json", "a02_s09_e04_v02.json")  # the last has one frame


@pytest.fixture(scope="module")
def nucla(nucla_dir):
    return [hs.load_skeleton(nucla_dir / name) for name in NUCLA]


def root_processor(**kw):
    args = {"format": "kinect_v1", "max_frames": 24, "normalization": "root", "scale": True, "align_view": "upright"}
    return SkeletonProcessor(**{**args, **kw})


# ---------------------------------------------------------------------- save / load
def test_round_trips_through_its_own_preprocessor_config(tmp_path, cmu_dir):
    bvh = hs.load_skeleton(cmu_dir / "02_01.bvh").format  # a per-file format travels as its definition
    for i, proc in enumerate([root_processor(persons="first", model_input_names=("motion", "motion_mask")),
                              SkeletonProcessor(format=bvh, normalization="box", persons="first")]):
        folder = tmp_path / str(i)
        files = proc.save_pretrained(folder)
        assert [p.rsplit("/", 1)[-1] for p in files] == ["preprocessor_config.json"]
        saved = json.loads((folder / "preprocessor_config.json").read_text())
        assert saved["feature_extractor_type"] == "SkeletonProcessor"
        loaded = SkeletonProcessor.from_pretrained(folder)
        assert loaded.to_dict() == proc.to_dict() and loaded.skeleton_format == proc.skeleton_format
        assert AutoFeatureExtractor.from_pretrained(folder).to_dict() == proc.to_dict()
    with pytest.raises(hs.SkeletonInputError, match="normalization"):
        SkeletonProcessor(normalization="minmax")
    with pytest.raises(hs.SkeletonInputError, match="persons"):
        SkeletonProcessor(persons="two")


# ---------------------------------------------------------------------- inputs
def test_every_input_kind_gives_the_same_tensors(nucla_dir, nucla):
    proc = root_processor()
    path = nucla_dir / NUCLA[0]
    seq = nucla[0]
    row = sequence_to_example(seq, id="a04_s01_e00_v01")
    assert isinstance(example_to_sequence(row), hs.SkeletonSequence)
    ref = proc([seq])
    for clip, fmt in [(path, None), (str(path), None), (row, None), (seq.positions, "kinect_v1"),
                      (seq.positions[:, 0], "kinect_v1"), (torch.from_numpy(seq.positions), "kinect_v1")]:
        out = proc(clip, skeleton_format=fmt)
        assert out.keys() == {"skeletons", "skeleton_mask"}
        assert torch.equal(out["skeletons"], ref["skeletons"]) and torch.equal(out["skeleton_mask"], ref["skeleton_mask"])
    assert ref["skeletons"].shape == (1, 24, 1, 20, 3) and ref["skeleton_mask"].dtype == torch.bool


def test_input_errors_are_typed(nucla):
    proc = root_processor()
    with pytest.raises(hs.SkeletonInputError, match="skeleton_format"):
        proc([nucla[0].positions])
    with pytest.raises(hs.SkeletonInputError, match="20 joints"):
        proc([np.zeros((4, 25, 3), np.float32)], skeleton_format="kinect_v1")
    with pytest.raises(hs.SkeletonInputError, match="T >= 1"):
        proc([np.zeros((0, 20, 3), np.float32)], skeleton_format="kinect_v1")
    with pytest.raises(hs.SkeletonInputError, match="empty clip"):
        proc([np.full((3, 20, 3), np.nan, np.float32)], skeleton_format="kinect_v1")
    with pytest.raises(hs.SkeletonInputError, match="dataset row"):
        proc([12345])
    with pytest.raises(hs.SkeletonFormatError):
        proc([nucla[0].positions], skeleton_format="no_such_format")
    # a model-format default for bare arrays is an explicit option (LLaMo's processor sets it)
    assert root_processor(arrays_in_model_format=True)([nucla[0].positions])["skeletons"].shape[3] == 20


def test_steps_in_order_and_padding(nucla):
    """input -> model format (by joint name) -> at most max_frames -> normalised -> zero padded."""
    proc = root_processor(format="kinect_v2", max_frames=10, scale=False, align_view=False)
    out = proc(nucla)
    T = [min(s.num_frames, 10) for s in nucla]
    assert out["skeletons"].shape == (3, max(T), 1, 25, 3)
    for i, seq in enumerate(nucla):
        v2 = seq.to_format("kinect_v2")
        expected = normalize(resample(v2, 10) if v2.num_frames > 10 else v2, center="first_frame", scale=False)
        np.testing.assert_array_equal(out["skeletons"][i, :T[i]].numpy(), expected.positions)
        np.testing.assert_array_equal(out["skeleton_mask"][i, :T[i]].numpy(), expected.mask)
        assert not out["skeleton_mask"][i, T[i]:].any() and not out["skeletons"][i, T[i]:].any()


# ---------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("center,align", [("first_frame", "upright"), ("per_frame", "facing"), ("none", "none")])
def test_root_normalisation_is_inverted_by_denormalize(nucla, center, align):
    proc = root_processor(center=center, align_view=align, max_frames=None)
    seq = nucla[0]
    prepared = proc.prepare(seq)
    assert prepared.meta["transforms"][-1]["name"] == "normalize"
    back = proc.denormalize(prepared)
    np.testing.assert_allclose(back.positions, seq.positions, atol=1e-5)
    assert "transforms" not in back.meta


def test_box_normalisation_is_the_vgmt_one_and_inverted(nucla):
    proc = SkeletonProcessor(format="kinect_v1", normalization="box", persons="all")
    pos = np.concatenate([nucla[0].positions, nucla[0].positions * 2 + 1], axis=1)  # two persons, two boxes
    seq = hs.SkeletonSequence(pos, format="kinect_v1")
    normed = proc.normalize(seq)
    x = torch.from_numpy(pos).permute(1, 0, 2, 3)
    ref, centre, _scale = normalize_motion(x, torch.from_numpy(seq.mask).permute(1, 0, 2))
    np.testing.assert_array_equal(normed.positions, ref.permute(1, 0, 2, 3).numpy())  # bit for bit
    assert np.isclose(np.abs(normed.positions).max(axis=(0, 2, 3)), 1.0).all()
    record = normed.meta["transforms"][-1]
    assert record["name"] == "box_normalize" and np.allclose(record["center"], centre.reshape(2, 3).numpy())
    back = proc.denormalize(normed)
    np.testing.assert_allclose(back.positions, pos, atol=1e-5)
    assert "transforms" not in back.meta
    with pytest.raises(hs.SkeletonInputError, match="box_normalize"):
        proc.denormalize(seq)


# ---------------------------------------------------------------------- the model processors delegate
def test_skeleton_llm_processor_delegates(nucla, nucla_dir):
    proc = AutoProcessor.from_pretrained(OLD_LAYOUT / "skeleton-llm-nucla")
    assert isinstance(proc, SkeletonTextProcessor) and as_text_processor(proc) is proc
    sp = proc.skeleton_processor
    assert (sp.format, sp.max_frames, sp.scale, sp.align_view) == ("kinect_v1", 300, False, "upright")
    batch = proc(skeletons=nucla, text=["what?"] * 3)
    direct = sp(nucla)
    assert torch.equal(batch["skeletons"], direct["skeletons"])
    assert torch.equal(batch["skeleton_mask"], direct["skeleton_mask"])
    for i, seq in enumerate(nucla):  # the steps the processor used to write itself
        expected = normalize(seq, center="first_frame", scale=False, align_view="upright")
        np.testing.assert_array_equal(batch["skeletons"][i, :seq.num_frames].numpy(), expected.positions)
    by_path = proc(skeletons=[nucla_dir / n for n in NUCLA], text=["what?"] * 3)
    assert torch.equal(by_path["skeletons"], batch["skeletons"])


def test_llamo_processor_delegates_and_reads_paths(nucla, nucla_dir):
    proc = AutoProcessor.from_pretrained(OLD_LAYOUT / "llamo-nucla")
    sp = proc.skeleton_processor
    assert (sp.format, sp.max_frames, sp.scale, sp.align_view, sp.persons) == ("kinect_v1", 16, True, "upright",
                                                                                "first")
    batch = proc(skeletons=nucla, text=["what?"] * 3)
    assert torch.equal(batch["motion"], sp(nucla)["motion"])
    for i, seq in enumerate(nucla):
        clip = resample(seq, 16) if seq.num_frames > 16 else seq
        expected = normalize(clip, center="first_frame", scale=True, align_view="upright").positions[:, 0]
        np.testing.assert_array_equal(batch["motion"][i, :len(expected)].numpy(), expected)
        pos, _mask = proc.prepare_motion(seq)
        np.testing.assert_array_equal(pos, expected)
    # paths, which the LLaMo processor used to refuse, and dataset rows
    by_path = proc(skeletons=[nucla_dir / n for n in NUCLA], text=["what?"] * 3)
    rows = proc(skeletons=[sequence_to_example(s, id=str(i)) for i, s in enumerate(nucla)], text=["what?"] * 3)
    for other in (by_path, rows):
        assert torch.equal(other["motion"], batch["motion"]) and torch.equal(other["input_ids"], batch["input_ids"])


@pytest.mark.parametrize("name", ["llamo-nucla", "skeleton-llm-nucla"])
def test_old_folders_save_in_the_new_layout_and_round_trip(name, tmp_path, nucla):
    old = AutoProcessor.from_pretrained(OLD_LAYOUT / name)
    old.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "processor_config.json").read_text())
    assert not {"format", "center", "scale", "align_view", "skeleton_processor"} & set(config)
    assert json.loads((tmp_path / "preprocessor_config.json").read_text()) == old.skeleton_processor.to_dict()
    new = AutoProcessor.from_pretrained(tmp_path)
    assert type(new) is type(old) and new.to_dict() == old.to_dict()
    assert new.skeleton_processor.to_dict() == old.skeleton_processor.to_dict()
    a, b = old(skeletons=nucla, text=["what?"] * 3), new(skeletons=nucla, text=["what?"] * 3)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # an option given at load time overrides the saved one, in either layout
    for folder in (tmp_path, OLD_LAYOUT / name):
        assert AutoProcessor.from_pretrained(folder, align_view="facing").skeleton_processor.align_view == "facing"


def test_interface_is_explicit():
    with pytest.raises(hs.SkeletonInputError, match="SkeletonTextProcessor"):
        as_text_processor(object())


def test_processors_of_the_older_protocol_are_adapted(nucla):
    """A processor written against the old protocol (``skeleton_token``, e.g. a discrete-token LLaMo arm)
    still trains through the collator, via the one adapter."""
    from hf_skeleton.processing import SkeletonSFTCollator
    from hf_skeleton.processing.base import LegacyTextProcessor

    llamo = AutoProcessor.from_pretrained(OLD_LAYOUT / "llamo-nucla")

    class OldStyle:
        skeleton_token = "<motion>"

        def __init__(self):
            self.tokenizer = llamo.tokenizer

        def __call__(self, skeletons, text, **kwargs):
            return llamo(skeletons=skeletons, text=text, **kwargs)

    old = OldStyle()
    view = as_text_processor(old)
    assert isinstance(view, LegacyTextProcessor) and view.placeholder_token == "<motion>"
    examples = [{"skeleton": s, "prompt": "what?", "answer": "walk around"} for s in nucla]
    a, b = SkeletonSFTCollator(old)(examples), SkeletonSFTCollator(llamo)(examples)
    assert torch.equal(a["input_ids"], b["input_ids"])
    # the adapter knows no placeholder ids; they all lie inside the prompt, so the labels agree
    assert torch.equal(a["labels"], b["labels"])


def test_every_model_processor_defines_the_interface_hooks():
    from hf_skeleton.processing.base import SkeletonModelProcessor, SkeletonTextProcessor

    processors = [hs.SkeletonLLMProcessor, hs.LlamoProcessor, hs.SupermanProcessor, hs.VGMTProcessor]
    assert all(issubclass(cls, SkeletonModelProcessor) for cls in processors)
    # those that build their SkeletonProcessor from constructor options (Superman takes VGMT's, or none)
    for cls in (hs.SkeletonLLMProcessor, hs.LlamoProcessor, hs.VGMTProcessor):
        assert cls._default_skeleton_processor is not SkeletonModelProcessor._default_skeleton_processor, cls
    text = [cls for cls in processors if issubclass(cls, SkeletonTextProcessor)]
    assert text == [hs.SkeletonLLMProcessor, hs.LlamoProcessor]
    for cls in text:
        for hook in ("placeholder_token", "placeholder_token_ids"):
            assert getattr(cls, hook) is not getattr(SkeletonTextProcessor, hook), (cls, hook)
