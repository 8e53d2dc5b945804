"""Atomic checkpoints for transformers/TRL trainers.

transformers writes ``checkpoint-N`` in place, so a run killed mid-save leaves a folder that
``resume_from_checkpoint=True`` (and ``from_pretrained``) pick up as if it were complete. Trainers
that mix in :class:`AtomicCheckpointMixin` write into a hidden staging folder and rename it into
place only once everything (weights, optimizer, scheduler, RNG and trainer state) is on disk.
``os.replace`` of a directory is atomic on POSIX filesystems.
"""

from __future__ import annotations

import os
import shutil

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

STAGING_PREFIX = ".staging-"


class AtomicCheckpointMixin:
    """Mix in before the trainer class: ``class MyTrainer(AtomicCheckpointMixin, SFTTrainer)``."""

    def _save_checkpoint(self, model, trial):
        run_dir = self._get_output_dir(trial=trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging_root = os.path.join(run_dir, STAGING_PREFIX + name)
        if self.args.should_save:
            shutil.rmtree(staging_root, ignore_errors=True)
        # transformers derives the checkpoint path from _get_output_dir: point it at the staging root.
        self._get_output_dir = lambda trial=None: staging_root
        try:
            super()._save_checkpoint(model, trial)
        finally:
            del self._get_output_dir
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            final = os.path.join(run_dir, name)
            if os.path.exists(final):
                shutil.rmtree(final)
            os.replace(os.path.join(staging_root, name), final)
            shutil.rmtree(staging_root, ignore_errors=True)
            if self.state.best_global_step:
                best = os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.best_global_step}")
                if os.path.exists(best):
                    self.state.best_model_checkpoint = best
            from transformers.trainer_utils import rotate_checkpoints

            rotate_checkpoints(output_dir=run_dir, save_total_limit=self.args.save_total_limit,
                               best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=False)
        self.accelerator.wait_for_everyone()


def atomic(trainer_cls: type) -> type:
    """``atomic(SFTTrainer)`` -> a subclass whose checkpoints are written atomically."""
    return type(f"Atomic{trainer_cls.__name__}", (AtomicCheckpointMixin, trainer_cls), {})


def last_complete_checkpoint(output_dir: str) -> str | None:
    """The newest ``checkpoint-N`` folder (staging folders of interrupted saves are ignored)."""
    if not os.path.isdir(output_dir):
        return None
    return get_last_checkpoint(output_dir)
