"""Train a tiny VGMT for a few steps on real N-UCLA clips with transformers.Trainer.

Run alone (one process) or under ``torchrun --nproc_per_node 2`` (DDP, gloo on CPU). Each rank writes
``rank<k>.json`` with the logged loss of every step and a SHA-256 of all parameters and buffers after
every step, so tests/training/test_distributed.py can compare ranks and runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import torch
from torch.utils.data import SequentialSampler
from transformers import Trainer, TrainerCallback, TrainingArguments

import hf_skeleton as hs
from hf_skeleton.training.checkpointing import atomic


class OrderedTrainer(atomic(Trainer)):
    """Sequential data order, so a 2-process run sees exactly the 1-process batches."""

    def _get_train_sampler(self, *args, **kwargs):
        return SequentialSampler(self.train_dataset)


class RecordSteps(TrainerCallback):
    def __init__(self):
        self.hashes = []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        digest = hashlib.sha256()
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        self.hashes.append(digest.hexdigest())


def clips(data_dir: Path, count: int) -> list[dict]:
    files = sorted((data_dir / "nw_ucla" / "all_sqe").glob("a0*_v01.json"))[:count]
    out = []
    for path in files:
        seq = hs.load_skeleton(path).normalized().resample(8)
        out.append({"skeletons": torch.from_numpy(seq.positions[:, 0])})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--per-device-batch", type=int, default=2)
    parser.add_argument("--clips", type=int, default=24, help="N-UCLA view-1 clips in the training set")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", 0))

    torch.manual_seed(0)
    config = hs.VGMTConfig(format="kinect_v1", num_codes=32, code_dim=32, channels=[16, 32], norm_groups=4,
                           use_vision=False, reset_every=0)
    model = hs.VGMTModel(config)
    model.codebook.initialized.fill_(True)  # start from the seeded codes: identical on every rank
    dataset = clips(args.data, args.clips)
    training = TrainingArguments(
        output_dir=str(args.out / "run"), max_steps=args.steps, per_device_train_batch_size=args.per_device_batch,
        learning_rate=1e-3, lr_scheduler_type="constant", logging_steps=1, save_strategy="no", report_to=[],
        use_cpu=True, seed=0, data_seed=0, disable_tqdm=True, dataloader_num_workers=0,
        ddp_backend="gloo" if int(os.environ.get("WORLD_SIZE", 1)) > 1 else None)
    recorder = RecordSteps()
    trainer = OrderedTrainer(model=model, args=training, train_dataset=dataset, callbacks=[recorder])
    result = trainer.train()
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    world = int(os.environ.get("WORLD_SIZE", 1))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"rank{rank}.json").write_text(json.dumps({
        "world": world, "losses": losses, "hashes": recorder.hashes,
        "train_runtime": result.metrics["train_runtime"],
        "clips_per_second": result.metrics["train_samples_per_second"]}))


if __name__ == "__main__":
    main()
