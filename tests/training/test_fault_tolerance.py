"""Checkpoints are atomic, resume is bit-exact, and damaged folders fail loudly."""

import json
import os

import pytest
import torch
from transformers import Qwen2ForCausalLM, Trainer, TrainerCallback, TrainingArguments

from hf_skeleton.errors import CheckpointError, SkeletonFormatError
from hf_skeleton.modeling_utils import StrictLoadingMixin
from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config
from hf_skeleton.training.checkpointing import STAGING_PREFIX, atomic, last_complete_checkpoint


class TinyLM(StrictLoadingMixin, Qwen2ForCausalLM):
    pass


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


def _dataset(tok, n=16):
    texts = ["pick up with one hand", "walk around", "sit down", "stand up", "throw", "carry"]
    rows = []
    for i in range(n):
        ids = tok(texts[i % len(texts)])["input_ids"][:6]
        ids = ids + [tok.pad_token_id] * (6 - len(ids))
        rows.append({"input_ids": torch.tensor(ids), "labels": torch.tensor(ids)})
    return rows


class StopAfter(TrainerCallback):
    """Simulates a run that dies right after step k (its checkpoint written)."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True
        return control


def _trainer(tok, out, max_steps, **kw):
    torch.manual_seed(0)
    model = TinyLM(tiny_text_config(tok, hidden_size=32, layers=1))
    args = TrainingArguments(output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=4,
                             learning_rate=1e-3, save_steps=2, save_strategy="steps", logging_steps=1,
                             report_to=[], use_cpu=True, seed=0, data_seed=0, disable_tqdm=True, **kw)
    return atomic(Trainer)(model=model, args=args, train_dataset=_dataset(tok))


def test_interrupted_save_leaves_no_loadable_checkpoint(tok, tmp_path, monkeypatch):
    trainer = _trainer(tok, tmp_path, max_steps=4)
    calls = {"n": 0}
    original = trainer._save_rng_state

    def crash_on_second(output_dir):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-save")
        return original(output_dir)

    monkeypatch.setattr(trainer, "_save_rng_state", crash_on_second)
    at_step_2 = {}

    class Snapshot(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step == 2:
                at_step_2.update({k: v.detach().clone() for k, v in model.state_dict().items()})

    trainer.add_callback(Snapshot())
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    names = sorted(os.listdir(tmp_path))
    assert "checkpoint-2" in names and "checkpoint-4" not in names
    assert any(n.startswith(STAGING_PREFIX) for n in names)  # the interrupted save stayed hidden
    assert last_complete_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-2")
    # the surviving checkpoint holds the step-2 weights, not the step-4 ones the crashed save was writing
    loaded = TinyLM.from_pretrained(tmp_path / "checkpoint-2").state_dict()
    assert loaded.keys() == at_step_2.keys()
    assert all(torch.equal(loaded[k], at_step_2[k]) for k in at_step_2)
    final = trainer.model.state_dict()
    assert not all(torch.equal(loaded[k], final[k]) for k in loaded)


def test_resume_is_bit_exact(tok, tmp_path):
    full = _trainer(tok, tmp_path / "full", max_steps=4)
    full.train()
    part = _trainer(tok, tmp_path / "part", max_steps=4)
    part.add_callback(StopAfter(2))
    part.train()
    assert last_complete_checkpoint(str(tmp_path / "part")).endswith("checkpoint-2")
    resumed = _trainer(tok, tmp_path / "part", max_steps=4)
    resumed.train(resume_from_checkpoint=True)
    for (name, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_damaged_checkpoints_raise_checkpoint_error(tok, tmp_path):
    model = TinyLM(tiny_text_config(tok, hidden_size=32, layers=1))
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) - 64])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        TinyLM.from_pretrained(tmp_path)
    weights.write_bytes(data[:5])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        TinyLM.from_pretrained(tmp_path)
    from safetensors.torch import load_file, save_file

    weights.write_bytes(data)
    state = load_file(weights)
    state.pop("model.norm.weight")
    save_file(state, weights, metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="missing tensors.*model.norm.weight"):
        TinyLM.from_pretrained(tmp_path)
    os.remove(weights)
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        TinyLM.from_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "qwen2"


@pytest.fixture()
def llamo_copy(tmp_path):
    import shutil

    from hf_skeleton.embedded import embedded_model_path

    folder = tmp_path / "llamo"
    shutil.copytree(embedded_model_path("llamo-nucla"), folder)
    return folder


@pytest.mark.parametrize("edit,message,auto_error", [
    (lambda c: c.update(motion_hidden_size="big"), "invalid llamo config", CheckpointError),
    # AutoConfig re-raises the package's own typed errors unchanged (SkeletonConfigMixin.from_dict)
    (lambda c: c.update(format="no_such_format"), "no_such_format", SkeletonFormatError),
    (lambda c: c.update(model_type="vgmt"), "field model_type", None),  # Auto would pick another class
    (lambda c: c.pop("text_config"), "missing fields", CheckpointError),
])
def test_bad_config_fields_name_the_config_file(llamo_copy, edit, message, auto_error):
    import hf_skeleton as hs
    from transformers import AutoModelForImageTextToText

    path = llamo_copy / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message) as err:
        hs.LlamoForConditionalGeneration.from_pretrained(llamo_copy)
    assert str(llamo_copy / "config.json") in str(err.value)
    if auto_error is not None:  # the Auto path fails typed too, before building anything
        with pytest.raises(auto_error, match=message):
            AutoModelForImageTextToText.from_pretrained(llamo_copy)


def test_truncated_config_json_names_the_file(llamo_copy):
    import hf_skeleton as hs

    path = llamo_copy / "config.json"
    path.write_text(path.read_text()[:100])
    with pytest.raises(CheckpointError, match="config.json.*not valid JSON"):
        hs.LlamoForConditionalGeneration.from_pretrained(llamo_copy)


def test_processor_folder_without_tokenizer_names_the_folder(llamo_copy):
    from transformers import AutoProcessor

    (llamo_copy / "tokenizer_reference.json").unlink()
    (llamo_copy / "tokenizer_config.json").unlink()
    with pytest.raises(CheckpointError, match="no tokenizer") as err:
        AutoProcessor.from_pretrained(llamo_copy)
    assert str(llamo_copy) in str(err.value)
