"""`hf-skeleton render` and `hf-skeleton push` on real clips and saved folders."""

import imageio.v3 as iio
import numpy as np
import pytest

import hf_skeleton as hs
from hf_skeleton.cli import main


def test_render_writes_a_grid_of_real_frames(tmp_path, nucla_dir, capsys):
    out = tmp_path / "r.png"
    assert main(["render", str(nucla_dir / "a11_s02_e00_v01.json"), "-o", str(out), "--frames", "4",
                 "--size", "64"]) == 0
    image = iio.imread(out)
    assert image.ndim == 3 and image.shape[1] == 4 * 64
    body = image[18:18 + 64, :64].astype(int)
    assert (np.abs(body - 255).sum(-1) > 0).any()  # something is drawn
    assert "wrote" in capsys.readouterr().out


def test_render_with_a_saved_draction_folder(tmp_path, nucla_dir):
    folder = tmp_path / "draction"
    hs.DrActionModel(hs.DrActionConfig(format="kinect_v1", image_size=56, num_frames=2)).save_pretrained(folder)
    assert main(["render", str(nucla_dir / "a11_s02_e00_v01.json"), "-o", str(tmp_path / "r.png"),
                 "--model", str(folder)]) == 0
    assert iio.imread(tmp_path / "r.png").shape[1] == 2 * 56


def test_push_dry_run_lists_the_folder_and_offline_push_is_one_line(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "draction"
    hs.DrActionModel(hs.DrActionConfig(format="kinect_v1", image_size=56, num_frames=2)).save_pretrained(folder)
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    assert main(["push", str(folder), "me/draction-test", "--dry-run"]) == 0
    listed = capsys.readouterr().out
    for name in ("config.json", "model.safetensors", "README.md", "modeling_draction.py"):
        assert name in listed
    assert "README.md  (model card, rendered on push)" in listed
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before  # a dry run writes nothing
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert main(["push", str(folder), "me/draction-test"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "offline" in err[0] and "me/draction-test" in err[0]


def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys):
    assert main(["render", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.json" in err[0]


def test_evaluate_scores_the_embedded_model_and_writes_its_card(tmp_path, data_dir, capsys):
    import json
    import shutil

    folder = tmp_path / "llamo"
    shutil.copytree(hs.embedded_model_path("llamo-nucla"), folder)
    assert main(["evaluate", str(folder), "--data", str(data_dir), "--limit", "12", "--write-card"]) == 0
    out = capsys.readouterr().out
    assert "top1_likelihood" in out and "generated_lenient" in out
    stored = json.loads((folder / "eval_results.json").read_text())["nucla-view3"]
    assert stored["clips"] == 12 and 0.0 <= stored["top1_likelihood"] <= 1.0
    assert f"| nucla-view3 | top1_likelihood | {stored['top1_likelihood']:.4g} |" in (folder / "README.md").read_text()


def test_evaluate_rejects_an_unknown_protocol(tmp_path, data_dir, capsys):
    assert main(["evaluate", hs.embedded_model_path("llamo-nucla"), "--data", str(data_dir),
                 "--protocol", "ntu-xsub"]) == 2
    assert "protocol" in capsys.readouterr().err


@pytest.mark.slow
def test_train_runs_the_llamo_recipe_and_writes_a_loadable_folder(tmp_path, data_dir, capsys):
    import json

    from transformers import pipeline

    out = tmp_path / "llamo"
    assert main(["train", "llamo", "--data", str(data_dir), "--output-dir", str(tmp_path / "run"),
                 "--export-dir", str(out), "--stage1-steps", "2", "--stage2-steps", "2", "--batch-size", "4",
                 "--hidden", "32", "--layers", "1", "--frames", "8", "--max-clips", "8", "--eval-clips", "6",
                 "--encoder-warmup-epochs", "1", "--caption-steps", "2"]) == 0
    results = json.loads((out / "eval_results.json").read_text())["N-UCLA view 3 (trained on views 1-2)"]
    assert results["clips"] == 6
    assert (out / "training_command.txt").read_text().startswith("hf-skeleton train llamo --data")
    config = json.loads((out / "config.json").read_text())  # SmolLM2 by default, referenced, not copied
    assert config["backbone_weights"][0]["backbone"] == "smollm2-135m-instruct" and config["lora"]["r"] == 16
    assert (out / "model.safetensors").stat().st_size < 8e6  # LoRA + encoder + projector, not 540 MB
    ranked = pipeline("skeleton-understanding", model=str(out))(
        hs.load_skeleton(data_dir / "nw_ucla" / "all_sqe" / "a04_s01_e00_v03.json"), candidate_labels=["walk around", "carry"])
    assert {r["label"] for r in ranked} == {"walk around", "carry"}


@pytest.mark.slow
def test_train_vgmt_runs_the_cmu_recipe(tmp_path, data_dir):
    import json

    from transformers import AutoModel

    out = tmp_path / "vgmt"
    assert main(["train", "vgmt", "--data", str(data_dir), "--output-dir", str(out), "--max-steps", "3",
                 "--num-codes", "16", "--code-dim", "16", "--channels", "16", "--batch-size", "4"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["held_out"]["num_clips"] > 0 and results["held_out"]["mpjpe_mm"] > 0
    assert "mpjpe_mm" in (out / "model" / "README.md").read_text()
    assert AutoModel.from_pretrained(out / "model").config.num_codes == 16


def test_evaluate_takes_an_embedded_name_and_a_class_balanced_limit(data_dir, capsys, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # an embedded name never reaches the Hub
    assert main(["evaluate", "llamo-nucla", "--data", str(data_dir), "--limit", "20", "--no-generate"]) == 0
    out = capsys.readouterr().out
    assert "a class-balanced sample (seed 0) of 20 clips" in out
    top1 = float(out.split("top1_likelihood:")[1].split()[0])
    assert top1 > 0.3  # the embedded model's 77 % over 10 classes, on 2 clips of each (the first 20 files: one class)


def test_evaluate_limit_zero_and_unknown_names_are_errors(data_dir, capsys):
    with pytest.raises(SystemExit) as done:
        main(["evaluate", "llamo-nucla", "--limit", "0"])
    assert done.value.code == 2 and "positive whole number, found 0" in capsys.readouterr().err
    assert main(["evaluate", "no-such-model", "--data", str(data_dir), "--limit", "2"]) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and "llamo-nucla" in err and len(err.strip().splitlines()) == 1
    assert main(["evaluate", "llamo-nucla", "--data", str(data_dir), "--write-card"]) == 2
    assert "read-only" in capsys.readouterr().err


@pytest.mark.parametrize("argv, option", [
    (["viz", "{clip}", "-o", "{tmp}/x.gif", "--max-frames", "-1"], "--max-frames"),
    (["viz", "{clip}", "-o", "{tmp}/x.gif", "--max-frames", "0"], "--max-frames"),
    (["viz", "{clip}", "-o", "{tmp}/x.gif", "--size", "20000"], "--size"),
    (["render", "{clip}", "-o", "{tmp}/x.png", "--size", "20000"], "--size"),
    (["render", "{clip}", "-o", "{tmp}/x.png", "--frames", "9" * 5000], "--frames"),
    (["demo", "{clip}", "--num-frames", "0"], "--num-frames"),
])
def test_out_of_range_numbers_are_one_line_errors(argv, option, nucla_dir, tmp_path, capsys):
    """Issue 16: these were tracebacks (negative sample counts, a 38 GB allocation) or named the wrong field."""
    argv = [a.format(clip=nucla_dir / "a01_s01_e00_v01.json", tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert option in err[-1] and "expected a whole number" in err[-1]
    assert not list(tmp_path.iterdir())  # nothing written
