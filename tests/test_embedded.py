"""The shipped checkpoint: listed, loaded offline by the default pipeline, and better than chance on the
held-out N-UCLA view (the model never saw view 3)."""

import json
from pathlib import Path

import pytest
from transformers import pipeline

import hf_skeleton as hs
from hf_skeleton.cli import run_demo
from hf_skeleton.data import action_labels
from hf_skeleton.embedded import default_model_for
from hf_skeleton import embedded_model_path, list_embedded_models


def test_embedded_models_are_listed_and_small():
    names = list_embedded_models()
    assert {"llamo-nucla", "skeleton-llm-nucla", "superman-cmu", "vgmt-cmu"} <= set(names)
    total = sum(f.stat().st_size for n in names for f in Path(embedded_model_path(n)).rglob("*") if f.is_file())
    assert total <= 25 * 2**20
    with pytest.raises(hs.HFSkeletonError, match="no embedded model"):
        embedded_model_path("nope")


def test_card_results_come_from_the_stored_evaluation():
    folder = Path(embedded_model_path("llamo-nucla"))
    results = json.loads((folder / "eval_results.json").read_text())
    top1 = results["N-UCLA view 3 (trained on views 1-2)"]["top1"]
    card = (folder / "README.md").read_text()
    assert f"| {top1:.4g} |" in card and "HuggingFaceTB/SmolLM2-135M-Instruct" in card  # base_model
    assert (folder / "training_command.txt").read_text().startswith("hf-skeleton train llamo --text-model")


@pytest.mark.parametrize("name", ["llamo-nucla", "skeleton-llm-nucla", "superman-cmu"])
def test_embedded_models_on_smollm2_ship_only_their_trained_parts(name):
    """The pretrained backbones resolve through hs.backbone_path; the folder holds adapters, projector,
    encoder / renderer, and not one tensor of the backbones."""
    from safetensors import safe_open

    folder = Path(embedded_model_path(name))
    config = json.loads((folder / "config.json").read_text())
    backbones = {e["backbone"] for e in config["backbone_weights"]}
    assert "smollm2-135m-instruct" in backbones and backbones <= set(hs.list_backbones())
    assert config["lora"]["r"] >= 8
    targets = tuple(e["target"] for e in config["backbone_weights"])
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    # adapters and the rows of the added motion tokens are trained; nothing else under a backbone's prefix
    frozen = [k for k in keys if k.startswith(targets) and "lora_" not in k and not k.endswith(".motion_rows")]
    assert keys and not frozen, frozen[:5]
    assert any("lora_A" in k for k in keys)


@pytest.fixture(scope="module")
def default_pipe():
    return pipeline("skeleton-understanding")


def test_default_pipeline_is_the_embedded_model(default_pipe):
    assert default_model_for("skeleton-understanding") == embedded_model_path("llamo-nucla")
    assert default_pipe.model.config.model_type == "llamo"


def test_embedded_model_beats_chance_on_held_out_view(default_pipe, nucla_dir):
    labels = list(action_labels("nucla").values())
    files = sorted(nucla_dir.glob("a*_s0[1-4]_e00_v03.json"))
    seqs = [hs.load_skeleton(f) for f in files]
    ranked = default_pipe(seqs, candidate_labels=labels)
    correct = sum(r[0]["label"] == s.meta["label_name"] for r, s in zip(ranked, seqs))
    assert len(seqs) >= 30 and correct / len(seqs) > 0.6  # chance is 0.1; 84 % over all 464 view-3 clips


def test_demo_runs_the_main_job(tmp_path, nucla_dir):
    result = run_demo(nucla_dir / "a04_s01_e00_v01.json", tmp_path, num_frames=8, log=lambda *_: None)
    words = result["description"].split()  # a sentence about the motion, not an action name
    assert len(words) >= 8 and result["description"] not in action_labels("nucla").values()
    scores = [row["score"] for row in result["top_actions"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    pipe = pipeline("skeleton-understanding")  # the embedded default the demo uses
    clip = hs.load_skeleton(nucla_dir / "a04_s01_e00_v01.json")
    assert result["description"] == pipe(clip, prompt="Describe the motion.", max_new_tokens=24)["generated_text"]
    assert result["top_actions"] == pipe(clip, candidate_labels=list(action_labels("nucla").values()))[:5]
    assert Path(result["files"]["draction_frames"]).is_file()
    prediction = result["prediction"]  # the embedded Superman predicts the clip's last 8 frames
    assert prediction["model"] == embedded_model_path("superman-cmu") and Path(prediction["animation"]).is_file()
    assert prediction["held_out"] == 8 and prediction["mpjpe"] > 0 and prediction["zero_velocity_mpjpe"] > 0


def test_default_generation_pipeline_predicts_and_inbetweens_a_held_out_cmu_trial(cmu_dir):
    """``pipeline("skeleton-generation")`` with no model: the embedded SmolLM2 Superman, offline, on a CMU
    trial the recipe held out (02_01), in the clip's own 43-joint format."""
    import numpy as np

    pipe = pipeline("skeleton-generation")
    assert pipe.model.config.model_type == "superman" and pipe.model.name_or_path == embedded_model_path("superman-cmu")
    seq = hs.load_skeleton(cmu_dir / "02_01.bvh")  # walking
    seq = seq.resample(round(seq.num_frames * 20 / seq.fps))  # the model's 20 fps
    history, truth = seq.frame_range(0, 8), seq.frame_range(8, 16)
    future = pipe(history, task="predict", num_frames=8)
    assert future.format == seq.format and future.positions.shape == (8, 1, seq.num_joints, 3)
    seen = future.mask[:, 0] & truth.mask[:, 0]
    assert seen.any(0).sum() == 17  # the H36M-17 joints it predicts, back in the BVH skeleton
    error = np.linalg.norm(future.positions - truth.positions, axis=-1)[:, 0][seen].mean()
    held = np.linalg.norm(history.positions[-1:] - truth.positions, axis=-1)[:, 0][seen].mean()
    assert error < 30.0, (error, held)  # cm; measured 19.3 against zero velocity's 24.5 on this window
    hip = seq.format.index("hip")  # it walks on the way the history walks
    walked = future.positions[-1, 0, hip] - history.positions[-1, 0, hip]
    assert np.dot(walked, truth.positions[-1, 0, hip] - history.positions[-1, 0, hip]) > 0
    clip = seq.frame_range(16, 24)
    filled = pipe(clip, task="inbetween")
    assert filled.positions.shape == clip.positions.shape and np.isfinite(filled.positions[filled.mask]).all()


def test_embedded_vgmt_reconstructs_a_held_out_cmu_trial(cmu_dir):
    import numpy as np
    from transformers import AutoModel

    model = AutoModel.from_pretrained(embedded_model_path("vgmt-cmu")).eval()
    seq = hs.load_skeleton(cmu_dir / "02_01.bvh")  # one of the 12 trials held out from training
    assert seq.format == hs.get_format(model.config.format)
    clip = seq.resample(int(seq.duration * 30))  # the model was trained at 30 fps on 16-frame windows
    assert clip.orientations is not None  # the real BVH path: joint rotations travel with the clip
    rec = model.reconstruct(clip, window=16)
    assert rec.positions.shape == clip.positions.shape and rec.format == clip.format
    assert len(rec.meta["vgmt_codes"]) == -(-clip.num_frames // 16)
    error = np.linalg.norm(rec.positions - clip.positions, axis=-1)[clip.mask].mean()
    assert error < 5.0  # cm; measured 2.7 cm on this trial, 3.7 cm over all held-out windows (card)
    # the windows are exactly the clip's frame ranges, reconstructed one by one
    part = model.reconstruct(clip.frame_range(16, 32))
    np.testing.assert_array_equal(rec.positions[16:32], part.positions)


def test_embedded_skeleton_llm_loads_and_ranks_labels(nucla_dir):
    folder = Path(embedded_model_path("skeleton-llm-nucla"))
    stored = json.loads((folder / "eval_results.json").read_text())["nucla-view3"]
    assert stored["clips"] == 464 and f"{stored['top1_likelihood']:.4g}" in (folder / "README.md").read_text()
    pipe = pipeline("skeleton-understanding", model=str(folder))
    assert pipe.model.config.model_type == "skeleton_llm"
    labels = list(action_labels("nucla").values())
    ranked = pipe(hs.load_skeleton(nucla_dir / "a05_s01_e00_v03.json"), candidate_labels=labels)
    assert sorted(r["label"] for r in ranked) == sorted(labels)
    assert abs(sum(r["score"] for r in ranked) - 1) < 1e-5


def test_model_cards_folder_holds_the_current_cards():
    repo = Path(__file__).resolve().parents[1]
    for name in list_embedded_models():
        card = Path(embedded_model_path(name)) / "README.md"
        assert (repo / "model_cards" / f"{name}.md").read_text() == card.read_text(), \
            f"model_cards/{name}.md is stale: run python model_cards/render.py"


# top-5 of five N-UCLA clips, recorded when the pretrained-backbone models were embedded: the trained-parts
# folders plus the backbones rebuilt from their packages must keep giving the same scores
RECORDED_TOP5 = {
    "llamo-nucla": [
        [("pick up with one hand", 0.82849), ("pick up with two hands", 0.16839), ("drop trash", 0.00301), ("stand up", 0.00008), ("carry", 0.00001)],
        [("walk around", 0.99202), ("carry", 0.00375), ("pick up with one hand", 0.00317), ("drop trash", 0.00062), ("pick up with two hands", 0.00033)],
        [("stand up", 0.96076), ("sit down", 0.03924), ("pick up with one hand", 0.00000), ("pick up with two hands", 0.00000), ("carry", 0.00000)],
        [("doffing", 0.96016), ("donning", 0.03972), ("throw", 0.00012), ("stand up", 0.00000), ("carry", 0.00000)],
        [("throw", 0.96387), ("carry", 0.03608), ("drop trash", 0.00004), ("walk around", 0.00001), ("doffing", 0.00000)],
    ],
    "skeleton-llm-nucla": [  # re-recorded for the warm-up + rationale-replay model (stop 6)
        [("pick up with one hand", 0.26629), ("walk around", 0.24320), ("pick up with two hands", 0.22585), ("drop trash", 0.16804), ("sit down", 0.03811)],
        [("walk around", 0.59938), ("drop trash", 0.16146), ("pick up with one hand", 0.10573), ("pick up with two hands", 0.05694), ("carry", 0.04192)],
        [("stand up", 0.96461), ("sit down", 0.03132), ("pick up with one hand", 0.00161), ("pick up with two hands", 0.00116), ("doffing", 0.00048)],
        [("throw", 0.45857), ("carry", 0.42300), ("donning", 0.04795), ("doffing", 0.04767), ("drop trash", 0.01297)],
        [("donning", 0.31192), ("doffing", 0.22660), ("throw", 0.18104), ("carry", 0.14218), ("drop trash", 0.04921)],
    ],
}
RECORDED_CLIPS = ["a01_s01_e00_v01.json", "a04_s01_e00_v01.json", "a06_s03_e01_v03.json", "a09_s05_e02_v02.json",
                  "a12_s07_e03_v03.json"]


@pytest.mark.parametrize("name", sorted(RECORDED_TOP5))
def test_embedded_folders_keep_their_recorded_scores(name, nucla_dir):
    pipe = pipeline("skeleton-understanding", model=embedded_model_path(name))
    ranked = pipe([str(nucla_dir / f) for f in RECORDED_CLIPS], candidate_labels=list(action_labels("nucla").values()))
    for result, recorded in zip(ranked, RECORDED_TOP5[name]):
        scores = {r["label"]: r["score"] for r in result}
        assert {label: scores[label] for label, _ in recorded} == pytest.approx(dict(recorded), abs=1e-4)
