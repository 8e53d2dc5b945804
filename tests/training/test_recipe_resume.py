"""``--resume`` (#15): a recipe run killed in the middle of a stage and resumed ends with the weights of an
uninterrupted run, bit for bit; finished phases are reloaded, not re-run; a changed config is refused.
Tiny LLaMo and SkeletonLLM recipes on real N-UCLA clips (views 1-2 train, view 3 test)."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import TrainerCallback

import hf_skeleton as hs
from hf_skeleton.training import llamo_recipe, skeleton_llm_recipe
from hf_skeleton.training.recipe_progress import STATE_NAME, Phase, RecipeProgress, RecipeResumeError


class Killed(Exception):
    """Stands for the run being killed."""


class KillAt(TrainerCallback):
    """Kills the run at the end of step ``step`` (before its checkpoint is written: checkpoint-(step-1) is
    the last complete one)."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed(f"killed at step {self.step}")
        return control


def kill_in(monkeypatch, recipe, stage_dir: str, step: int):
    """Make ``recipe``'s ``train_stage`` kill the run at ``step`` of the stage whose checkpoints go to
    ``stage_dir`` (a ``runs/`` folder name); returns the list of stage folders trained."""
    real, trained = recipe.train_stage, []

    def train_stage(*args, callbacks=(), **kwargs):
        out = args[4]
        trained.append(out.rsplit("/", 1)[-1])
        if out.endswith(stage_dir):
            callbacks = list(callbacks or []) + [KillAt(step)]
        return real(*args, callbacks=callbacks, **kwargs)

    monkeypatch.setattr(recipe, "train_stage", train_stage)
    return trained


@pytest.fixture(scope="module")
def nucla_subset(nucla_dir, tmp_path_factory):
    """A data folder with 24 real N-UCLA clips of 3 actions (links): 6 per action in views 1-2, 2 in view 3."""
    root = tmp_path_factory.mktemp("nucla_subset")
    sqe = root / "nw_ucla" / "all_sqe"
    sqe.mkdir(parents=True)
    for action in ("a01", "a04", "a05"):
        for view, n in (("v01", 3), ("v02", 3), ("v03", 2)):
            for f in sorted(nucla_dir.glob(f"{action}_*_{view}.json"))[:n]:
                (sqe / f.name).symlink_to(f)
    return root


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


# ---------------------------------------------------------------------- the progress record itself
def test_progress_records_phases_eta_and_refuses_a_changed_config(tmp_path):
    now = [0.0]
    lines: list[str] = []
    phases = [Phase("warm-up", 10, "warm-up"), Phase("stage 1", 20), Phase("stage 2", 40)]
    config = {"lr": 1e-3, "steps": 20, "output_dir": str(tmp_path), "resume": False}
    progress = RecipeProgress(tmp_path, config, phases, log=lines.append, clock=lambda: now[0])
    progress.start("warm-up")
    assert lines[-1] == "phase 1/3 warm-up (10 steps): 0s elapsed, time left known after the first warm-up phase"
    now[0] = 5.0
    progress.finish("warm-up", results={"loss": 0.5})
    progress.start("stage 1")
    assert lines[-1].startswith("phase 2/3 stage 1 (20 steps): 5s elapsed, time left known after the first sft")
    now[0] = 65.0
    progress.finish("stage 1")
    progress.start("stage 2")  # 40 steps at stage 1's 3 s a step
    assert lines[-1] == "phase 3/3 stage 2 (40 steps): 1m05s elapsed, about 2m00s left"
    state = json.loads((tmp_path / STATE_NAME).read_text())
    assert [e["name"] for e in state["phases"]] == ["warm-up", "stage 1"]
    assert state["phases"][0]["results"] == {"loss": 0.5} and "resume" not in state["config"]

    # resumed: the finished phases are done, their time counts, a changed field is named
    again = RecipeProgress(tmp_path, {**config, "resume": True}, phases, resume=True, log=lines.append,
                           clock=lambda: 100.0)
    assert again.done("stage 1") and not again.done("stage 2") and again.results("warm-up") == {"loss": 0.5}
    with pytest.raises(RecipeResumeError, match=r"lr: 0\.001 recorded, 0\.002 now") as err:
        RecipeProgress(tmp_path, {**config, "lr": 2e-3}, phases, resume=True, log=lines.append)
    assert err.value.fields == {"lr": (1e-3, 2e-3)} and isinstance(err.value, hs.HFSkeletonError)
    # without --resume the recorded run is started over
    RecipeProgress(tmp_path, {**config, "lr": 2e-3}, phases, log=lines.append)
    state = json.loads((tmp_path / STATE_NAME).read_text())  # the new run, recorded before its first phase ends
    assert state["phases"] == [] and state["config"]["lr"] == 2e-3 and "started over" in lines[-1]


# ---------------------------------------------------------------------- LLaMo
def llamo_args(data, out, **over):
    return llamo_recipe.LlamoRecipeConfig(**{
        "data": str(data), "output_dir": str(out), "text_model": None, "hidden": 32, "layers": 1, "frames": 8,
        "batch_size": 4, "encoder_warmup_epochs": 2, "stage1_steps": 2, "stage2_steps": 4, "caption_steps": 2,
        "recognition_repeats": 1, "lr": 1e-3, "augment_angle": 30.0, "augment_tilt": 15.0, "save_steps": 1,
        **over})


@pytest.fixture(scope="module")
def llamo_full(nucla_subset, tmp_path_factory):
    """The uninterrupted tiny run, without checkpoints (they change nothing): its folder and results."""
    out = tmp_path_factory.mktemp("llamo_full")
    return out, llamo_recipe.run(llamo_args(nucla_subset, out, save_steps=0), log=lambda line: None)


@pytest.mark.parametrize("kill_step, checkpoint", [(1, None), (3, "checkpoint-2")],
                         ids=["between-phases", "mid-stage"])
def test_llamo_recipe_resumed_ends_with_the_uninterrupted_weights(nucla_subset, llamo_full, tmp_path, monkeypatch,
                                                                  kill_step, checkpoint):
    """Killed in stage 2 (LoRA + projectors + encoder) before its first checkpoint (the stage restarts from
    stage 1's saved model, the random generators as they were: LoRA's initialisation draws from them) or
    after checkpoint-2 (the stage continues from it: adapters, projectors, optimiser, augmentation seeds)."""
    part = tmp_path / "part"
    kill_in(monkeypatch, llamo_recipe, "03-stage-2", step=kill_step)
    with pytest.raises(Killed):
        llamo_recipe.run(llamo_args(nucla_subset, part), log=lambda line: None)
    state = json.loads((part / STATE_NAME).read_text())
    assert [e["name"] for e in state["phases"]] == ["encoder warm-up", "stage 1"]
    assert sorted(p.name for p in (part / "phases").iterdir()) == ["02-stage-1"]  # only the last phase kept
    if checkpoint:
        assert (part / "runs" / "03-stage-2" / checkpoint / "trainable_state.safetensors").is_file()

    # a resumed run with another learning rate is refused, naming the field
    with pytest.raises(RecipeResumeError, match="lr"):
        llamo_recipe.run(llamo_args(nucla_subset, part, resume=True, lr=2e-3), log=lambda line: None)

    monkeypatch.undo()
    warmups: list[int] = []
    monkeypatch.setattr(llamo_recipe, "warm_up_motion_encoder", lambda *a, **k: warmups.append(1))
    trained = kill_in(monkeypatch, llamo_recipe, "never", step=0)
    lines: list[str] = []
    resumed = llamo_recipe.run(llamo_args(nucla_subset, part, resume=True), log=lines.append)
    assert warmups == [] and trained == ["03-stage-2", "04-describing"]  # finished phases are not re-run
    assert any(line.startswith("phase 3/4 stage 2 (4 steps): ") and "left" in line for line in lines)
    assert any(line.startswith("phase stage 2: resuming from ") for line in lines) == bool(checkpoint)
    full, full_results = llamo_full
    same_weights(hs.LlamoForConditionalGeneration.from_pretrained(full),
                 hs.LlamoForConditionalGeneration.from_pretrained(part))
    assert resumed["top1"] == full_results["top1"]
    assert not (part / "runs" / "03-stage-2").exists()  # a finished phase's checkpoints go


def test_a_phase_saved_after_lora_reloads_bit_identically(nucla_subset, tmp_path):
    """After stage 2 the LoRA adapters sit unmerged in the model (unwrap_peft); the phase folder holds them
    (config.lora) and reloads to the same tensors."""
    lines: list[str] = []
    llamo_recipe.run(llamo_args(nucla_subset, tmp_path, encoder_warmup_epochs=0, stage1_steps=0, caption_steps=0,
                                eval_clips=1), log=lines.append)
    folder = tmp_path / "phases" / "01-stage-2"
    reloaded = hs.LlamoForConditionalGeneration.from_pretrained(folder)
    assert reloaded.config.lora["target_modules"] and any("lora_A" in k for k in reloaded.state_dict())
    same_weights(reloaded, hs.LlamoForConditionalGeneration.from_pretrained(tmp_path))  # = the final model


# ---------------------------------------------------------------------- SkeletonLLM
def skllm_args(data, out, **over):
    return skeleton_llm_recipe.SkeletonLLMRecipeConfig(**{
        "data": data, "output_dir": out, "vision_model": "none", "text_model": "none", "frames": 2, "size": 56,
        "batch_size": 4, "epochs": [0.2, 0.5, 0.5, 0.8, 0.5], "loss_probe": 4, "eval_clips": 2, "save_steps": 2,
        "per_class": 3,
        "augment_angle": 30.0, **over})


def test_skeleton_llm_recipe_resumed_in_a_lora_stage_ends_with_the_uninterrupted_weights(nucla_subset, tmp_path,
                                                                                       monkeypatch):
    """The tiny VLM's five stages on 9 clips; killed at step 3 of stage 3 (LoRA added there, beside the renderer and
    projector): resumed, the earlier stages come back from the record (losses included) and stage 3 from
    checkpoint-2."""
    quiet = lambda line: None
    full = skeleton_llm_recipe.run(skllm_args(nucla_subset, tmp_path / "full", save_steps=0), log=quiet)

    part = tmp_path / "part"
    kill_in(monkeypatch, skeleton_llm_recipe, "05-stage-3", step=3)
    with pytest.raises(Killed):
        skeleton_llm_recipe.run(skllm_args(nucla_subset, part), log=quiet)
    state = json.loads((part / STATE_NAME).read_text())
    assert [e["name"] for e in state["phases"]] == ["rationales", "stage 0", "stage 1", "stage 2"]
    assert (part / "runs" / "05-stage-3" / "checkpoint-2" / "trainable_state.safetensors").is_file()

    monkeypatch.undo()
    trained = kill_in(monkeypatch, skeleton_llm_recipe, "never", step=0)
    lines: list[str] = []
    resumed = skeleton_llm_recipe.run(skllm_args(nucla_subset, part, resume=True), log=lines.append)
    assert trained == ["05-stage-3", "06-stage-4"]
    assert any(line.startswith("phase 5/6 stage 3 (") and "elapsed, about" in line for line in lines)
    same_weights(hs.SkeletonLLMForConditionalGeneration.from_pretrained(tmp_path / "full"),
                 hs.SkeletonLLMForConditionalGeneration.from_pretrained(part))
    as_json = lambda value: json.loads(json.dumps(value))
    assert as_json(resumed["stages"]) == as_json(full["stages"])  # stages 0-2 from the record
    assert resumed["nucla-view3"] == full["nucla-view3"] and resumed["sample"] == full["sample"]
