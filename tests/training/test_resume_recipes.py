"""A run stopped after step k and resumed from its checkpoint ends bit-exactly where an uninterrupted
run ends: the VGMT Trainer recipe and the LLaMo SFTTrainer stage, on real N-UCLA clips."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainerCallback

import hf_skeleton as hs
from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config
from hf_skeleton.training.checkpointing import last_complete_checkpoint
from hf_skeleton.training.llamo_stages import build_examples, to_sft_dataset, train_stage
from hf_skeleton.training.vgmt_recipe import vgmt_trainer, vgmt_training_args


class StopAfter(TrainerCallback):
    """Simulates a run killed right after step k (its checkpoint written)."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True
        return control


@pytest.fixture(scope="module")
def clips(nucla_dir):
    files = sorted(nucla_dir.glob("a0[45]_s0[1-3]_e0[01]_v01.json"))
    return [hs.load_skeleton(f) for f in files]


def _same_state(a, b):
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def _vgmt(clips, out, stop_after=None, resume=False):
    torch.manual_seed(0)
    config = hs.VGMTConfig(format="kinect_v1", num_codes=16, code_dim=32, channels=[16, 32], norm_groups=4,
                           use_vision=False, reset_every=3)
    model = hs.VGMTModel(config)
    data = [{"skeletons": torch.from_numpy(s.normalized().resample(8).positions[:, 0])} for s in clips]
    args = vgmt_training_args(str(out), max_steps=6, batch_size=4, learning_rate=1e-3, save_strategy="steps",
                              save_steps=3, use_cpu=True, logging_steps=1)
    trainer = vgmt_trainer(model, data, args, callbacks=[StopAfter(stop_after)] if stop_after else None)
    trainer.train(resume_from_checkpoint=resume or None)
    return model


def test_vgmt_trainer_resume_is_bit_exact(clips, tmp_path):
    full = _vgmt(clips, tmp_path / "full")
    _vgmt(clips, tmp_path / "part", stop_after=3)
    assert last_complete_checkpoint(str(tmp_path / "part")).endswith("checkpoint-3")
    resumed = _vgmt(clips, tmp_path / "part", resume=True)
    _same_state(full, resumed)  # EMA codebook buffers and the dead-code reset at step 6 included


def _llamo(tok, clips, out, stop_after=None, resume=False):
    torch.manual_seed(0)
    config = hs.LlamoConfig(format="kinect_v1", motion_hidden_size=32, motion_num_layers=1, motion_num_heads=4,
                            motion_intermediate_size=64, max_motion_frames=16, motion_temporal_stride=4,
                            motion_dropout=0.0, use_video=False, text_config=tiny_text_config(tok, hidden_size=32),
                            motion_token_id=tok.convert_tokens_to_ids("<motion>"),
                            video_token_id=tok.convert_tokens_to_ids("<video>"))
    model = hs.LlamoForConditionalGeneration(config)
    processor = hs.LlamoProcessor.from_config(config, tok)
    labels = [s.meta["label_name"] for s in clips]
    data = to_sft_dataset(build_examples(clips, "recognition", labels=labels, seed=0))
    model, _ = train_stage(model, processor, data, 1, str(out), max_steps=4, per_device_train_batch_size=4,
                           save_strategy="steps", save_steps=2, logging_steps=1, learning_rate=1e-3,
                           callbacks=[StopAfter(stop_after)] if stop_after else None,
                           resume_from_checkpoint=resume or None)
    return model


@pytest.mark.slow
def test_llamo_sft_stage_resume_is_bit_exact(clips, tmp_path):
    tok = build_tiny_tokenizer(extra_special_tokens=["<motion>", "<video>"])
    full = _llamo(tok, clips, tmp_path / "full")
    _llamo(tok, clips, tmp_path / "part", stop_after=2)
    assert last_complete_checkpoint(str(tmp_path / "part")).endswith("checkpoint-2")
    resumed = _llamo(tok, clips, tmp_path / "part", resume=True)
    _same_state(full, resumed)
