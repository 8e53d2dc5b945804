"""VGMT trains with transformers.Trainer on real N-UCLA Kinect v1 clips: the eval loss falls."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset
from transformers import Trainer, TrainingArguments

import hf_skeleton as hs
from hf_skeleton.evaluation import mpjpe
from hf_skeleton.models.vgmt import normalize_motion


class Clips(Dataset):
    def __init__(self, clips: torch.Tensor):
        self.x = clips

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"skeletons": self.x[i], "labels": self.x[i]}


def nucla_clips(nucla_dir, n_files: int, offset: int) -> torch.Tensor:
    files = sorted(nucla_dir.glob("*.json"))[offset::40][:n_files]
    clips = []
    for f in files:
        seq = hs.load_skeleton(f)
        pos = seq.positions[:, 0]
        clips += [pos[i:i + 16] for i in range(0, len(pos) - 15, 8)]
    x, _, _ = normalize_motion(torch.from_numpy(np.stack(clips)))
    return x


@pytest.mark.slow
def test_trainer_trains_on_real_clips(nucla_dir, tmp_path):
    torch.set_num_threads(1)
    train_x, eval_x = nucla_clips(nucla_dir, 12, 0), nucla_clips(nucla_dir, 4, 20)
    assert len(train_x) >= 24 and len(eval_x) >= 4
    config = hs.VGMTConfig(format="kinect_v1", num_codes=64, code_dim=64, channels=[16, 32], norm_groups=8,
                           use_vision=False, reset_every=10)
    torch.manual_seed(0)
    model = hs.VGMTModel(config)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=60, per_device_train_batch_size=8,
                             per_device_eval_batch_size=16, learning_rate=3e-3, save_strategy="no",
                             report_to="none", use_cpu=True, seed=0, remove_unused_columns=False,
                             disable_tqdm=True, logging_steps=10)
    trainer = Trainer(model=model, args=args, train_dataset=Clips(train_x), eval_dataset=Clips(eval_x))
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_loss"]
    assert after < 0.6 * before, (before, after)
    assert int(model.codebook.num_updates) == 60 and bool(model.codebook.initialized)
    # the trained tokenizer reconstructs a held-out real sequence in metres better than its mean pose
    seq = hs.load_skeleton(sorted(nucla_dir.glob("*.json"))[30])
    rec = model.reconstruct(seq)
    assert rec.format == seq.format and rec.positions.shape == seq.positions.shape
    mean_pose = np.broadcast_to(seq.positions.mean(0, keepdims=True), seq.positions.shape)
    assert mpjpe(rec.positions, seq.positions, seq.mask) < mpjpe(mean_pose, seq.positions, seq.mask)
