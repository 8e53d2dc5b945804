"""Resumable recipe runs (``--resume``): a recipe is a sequence of phases (warm-ups, SFT stages), and
:class:`RecipeProgress` records each finished one in ``OUTPUT_DIR/recipe_state.json``.

After a phase the model and processor are saved into ``OUTPUT_DIR/phases/NN-name`` (written into a staging
folder, then ``os.replace``\\ d into place, so a run killed mid-save leaves the previous phase intact); the state
records the phase's name, its size in steps, its wall time, what the recipe wants to keep of it (e.g. its
losses), the folder and the random-number generators' states at its end (torch, numpy, Python: plain
numbers in JSON). Only the last phase's folder is kept. Within an SFT phase the trainer writes atomic
``checkpoint-N`` folders every ``save_steps`` into ``OUTPUT_DIR/runs/NN-name`` (removed once the phase is
saved).

A resumed run (``resume=True``) checks that the recipe config is the one recorded (:class:`RecipeResumeError`
names the fields that differ), reloads the last saved phase's model and processor (``from_pretrained`` of the
recipe's classes; LoRA adapters stay unmerged, ``config.lora``), skips the finished phases, puts the random
generators back where the uninterrupted run had them, and resumes an unfinished SFT phase from its last
complete checkpoint. So a resumed run ends with the weights of an uninterrupted one.

    progress = RecipeProgress(out, config, [Phase("stage 1", 200), Phase("stage 2", 400)], resume=True, log=print)
    model, processor = progress.restore(MyModel, MyProcessor) or build()
    for phase in ...:
        if progress.done(phase):
            continue
        progress.start(phase)          # "phase 2/2 stage 2: 3m10s elapsed, about 6m20s left"
        ... train, resume_from_checkpoint=progress.resume_checkpoint(phase) ...
        progress.finish(phase, model, processor)
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..backbone_weights import unwrap_peft
from ..errors import CheckpointError, HFSkeletonError, SkeletonInputError

STATE_NAME = "recipe_state.json"
PHASES_DIR = "phases"
RUNS_DIR = "runs"
STAGING_PREFIX = ".staging-"
TRAINABLE_STATE_NAME = "trainable_state.safetensors"
# config fields that do not change what a phase computes: a resumed run may change them
# (``base`` fills the fields it names, which are compared; ``out`` is the Superman recipe's output folder, so a
# moved run folder resumes)
NOT_COMPARED = ("resume", "output_dir", "out", "export_dir", "eval_clips", "save_steps", "save_total_limit", "base")


@dataclass
class ResumeOptions:
    """The ``--resume`` options shared by the recipes' configs (they inherit these fields)."""

    resume: bool = field(default=False, metadata={
        "help": "continue the run recorded in --output-dir (recipe_state.json): finished phases are reloaded, "
                "not re-run; an unfinished stage continues from its last checkpoint; the config must be the "
                "recorded one"})
    save_steps: int = field(default=50, metadata={
        "help": "write a checkpoint every N steps of a stage, for --resume (0: only after each phase)"})

    def checkpoint_options(self) -> dict[str, Any]:
        """Trainer arguments that write the stage checkpoints a resumed run continues from (only the last)."""
        return {"save_strategy": "steps", "save_steps": self.save_steps, "save_total_limit": 1} if self.save_steps else {}


class RecipeResumeError(HFSkeletonError, ValueError):
    """``--resume`` with a recipe config that differs from the interrupted run's.

    Attributes:
        path: the ``recipe_state.json`` of the interrupted run.
        fields: ``{field: (recorded value, value now)}`` for every field that differs.
    """

    def __init__(self, path: Any, fields: Mapping[str, tuple[Any, Any]]):
        self.path, self.fields = str(path), dict(fields)
        shown = "; ".join(f"{k}: {a!r} recorded, {b!r} now" for k, a, b in
                          ((k, *v) for k, v in sorted(self.fields.items())))
        super().__init__(f"{path}: cannot resume: the recipe config differs from the interrupted run's in "
                         f"{', '.join(sorted(self.fields))} ({shown}); resume with the recorded values, or run "
                         "without --resume to start over")


@dataclass(frozen=True)
class Phase:
    """One phase of a recipe: ``steps`` optimiser steps (the ETA's unit), ``kind`` groups phases whose steps
    cost about the same (``"sft"``: a stage of the language model; ``"warm-up"``: a small head on its own;
    ``"data"``: generated training text, ``steps`` = clips)."""

    name: str
    steps: int
    kind: str = "sft"


def config_dict(config: Any, ignore: Sequence[str] = NOT_COMPARED) -> dict[str, Any]:
    """A recipe config (a dataclass or a mapping) as JSON values (paths as text, tuples as lists), without
    the ``ignore`` fields."""
    values = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    return {k: v for k, v in json.loads(json.dumps(values, default=str)).items() if k not in ignore}


def rng_state() -> dict[str, Any]:
    """The global random generators (torch CPU and CUDA, numpy, Python) as JSON values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state().tolist(),
             "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
             "python": [version, list(internal), gauss_next]}
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Put the generators back to a :func:`rng_state`."""
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def duration(seconds: float) -> str:
    """``3h05m``, ``4m10s``, ``12s``."""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)


class RecipeProgress:
    """The phases of one recipe run in ``output_dir``, what is finished and the ETA (module docstring).

    Args:
        output_dir: the run's folder (``recipe_state.json``, ``phases/``, ``runs/``).
        config: the recipe config (a dataclass); its fields but ``ignore`` must match on resume.
        phases: the phases this config runs, in order (phases with no steps left out).
        resume: continue the run recorded in ``output_dir``; without it a recorded run is started over.
        log: where the progress lines go.
        clock: seconds (tests pass a fake one).

    Raises:
        RecipeResumeError: ``resume`` with a config that differs from the recorded one.
        CheckpointError: an unreadable ``recipe_state.json``.
    """

    def __init__(self, output_dir: str | Path, config: Any, phases: Sequence[Phase], *, resume: bool = False,
                 ignore: Sequence[str] = NOT_COMPARED, log: Callable[[str], Any] = print,
                 clock: Callable[[], float] = time.monotonic):
        self.dir = Path(output_dir)
        self.phases = list(phases)
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise SkeletonInputError("phases", "phases with distinct names", names)
        self.config = config_dict(config, ignore)
        self.log, self.clock, self.resume = log, clock, bool(resume)
        self.path = self.dir / STATE_NAME
        self.finished: list[dict[str, Any]] = []
        self.previous_seconds = 0.0
        recorded = self._read()
        if resume and recorded is not None:
            differ = {k: (recorded["config"].get(k), self.config.get(k))
                      for k in sorted((set(recorded["config"]) | set(self.config)) - set(ignore))
                      if recorded["config"].get(k) != self.config.get(k)}
            if differ:
                raise RecipeResumeError(self.path, differ)
            self.finished = [e for e in recorded["phases"] if e["name"] in names]
            self.previous_seconds = float(recorded.get("seconds", 0.0))
            log(f"resuming {self.dir}: {len(self.finished)}/{len(self.phases)} phases done"
                + (f" ({', '.join(e['name'] for e in self.finished)})" if self.finished else ""))
        else:
            if resume:
                log(f"--resume: no {STATE_NAME} in {self.dir}, starting from the beginning")
            elif recorded is not None:
                log(f"{self.path}: an earlier run's progress, started over (--resume continues it)")
            self._clear()
        self._rng_pending = False  # set when restore() reloads a model
        self._t0 = clock()
        self._started: dict[str, float] = {}

    # ------------------------------------------------------------------ state
    def _read(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            state = json.loads(self.path.read_text())
            if not isinstance(state.get("config"), dict) or not isinstance(state.get("phases"), list):
                raise TypeError("no 'config' object or 'phases' list")
        except (TypeError, ValueError, AttributeError) as err:
            raise CheckpointError(self.path, f"unreadable recipe state ({err}); delete it to start over") from None
        return state

    def _clear(self) -> None:
        """Start over: the earlier run's state, phase folders and checkpoints of these phases go."""
        if self.path.is_file():
            self.path.unlink()
        shutil.rmtree(self.dir / PHASES_DIR, ignore_errors=True)
        for k in range(len(self.phases)):
            shutil.rmtree(self.checkpoints(self.phases[k].name), ignore_errors=True)
        # recorded before the first phase ends, so that a run killed inside it resumes from its checkpoints
        _write_json(self.path, {"config": self.config, "phases": [], "seconds": 0.0})

    def _index(self, name: str) -> int:
        for k, phase in enumerate(self.phases):
            if phase.name == name:
                return k
        raise SkeletonInputError("phase", f"one of {[p.name for p in self.phases]}", name)

    def _folder_name(self, name: str) -> str:
        slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
        return f"{self._index(name) + 1:02d}-{slug}"

    def done(self, name: str) -> bool:
        """Whether phase ``name`` finished (in this run or the resumed one)."""
        self._index(name)
        return any(e["name"] == name for e in self.finished)

    def results(self, name: str) -> Any:
        """What :meth:`finish` kept of a finished phase (``results=``), else None."""
        return next((e.get("results") for e in self.finished if e["name"] == name), None)

    def checkpoints(self, name: str) -> Path:
        """The folder of phase ``name``'s ``checkpoint-N`` folders (a trainer's ``output_dir``)."""
        return self.dir / RUNS_DIR / self._folder_name(name)

    def resume_checkpoint(self, name: str) -> str | None:
        """The last complete ``checkpoint-N`` of phase ``name`` in a resumed run (None: start the phase)."""
        from .checkpointing import last_complete_checkpoint

        found = last_complete_checkpoint(str(self.checkpoints(name))) if self.resume else None
        if found:
            self.log(f"phase {name}: resuming from {found}")
        return found

    # ------------------------------------------------------------------ model
    def restore(self, model_class: Any, processor_class: Any = None) -> tuple[Any, Any] | None:
        """The model and processor saved after the last finished phase that saved one (None: nothing to
        reload, build them as usual: the run then repeats what the uninterrupted one did, a phase without a
        model such as cached generated text included). After a reload, the next :meth:`start` (or
        :meth:`end`) puts the random generators where the uninterrupted run had them at the end of the last
        finished phase; the recipe must not draw from them between a phase's end and the next start."""
        saved = [e for e in self.finished if e.get("folder")]
        if not saved:
            return None
        folder = self.dir / saved[-1]["folder"]
        if not folder.is_dir():
            raise CheckpointError(folder, f"the model saved after phase {saved[-1]['name']!r} is missing "
                                  f"({STATE_NAME} records it); run without --resume to start over")
        self.log(f"reloading the model saved after phase {saved[-1]['name']!r} from {folder}")
        self._rng_pending = True  # the next phase starts with the generators as the uninterrupted run had them
        return (model_class.from_pretrained(folder),
                None if processor_class is None else processor_class.from_pretrained(folder))

    # ------------------------------------------------------------------ phases
    def _elapsed(self) -> float:
        return self.previous_seconds + self.clock() - self._t0

    def _eta(self, k: int) -> str:
        rates: dict[str, list[float]] = {}
        for entry in self.finished:
            if entry.get("steps"):
                rates.setdefault(entry.get("kind", "sft"), []).append(entry["seconds"] / entry["steps"])
        left = 0.0
        for phase in self.phases[k:]:
            if phase.name in {e["name"] for e in self.finished}:
                continue
            if phase.kind not in rates:
                return f"time left known after the first {phase.kind} phase"
            left += phase.steps * sum(rates[phase.kind]) / len(rates[phase.kind])
        return f"about {duration(left)} left"

    def start(self, name: str) -> None:
        """Log ``phase k/n NAME (S steps): ... elapsed, about ... left``; after :meth:`restore` reloaded a
        model, the first phase started puts the random generators where the uninterrupted run had them."""
        k = self._index(name)
        if self._rng_pending:
            self._restore_rng()
        self._started[name] = self.clock()
        phase = self.phases[k]
        unit = "clips" if phase.kind == "data" else "steps"
        self.log(f"phase {k + 1}/{len(self.phases)} {name} ({phase.steps} {unit}): {duration(self._elapsed())} "
                 f"elapsed, {self._eta(k)}")

    def _restore_rng(self) -> None:
        self._rng_pending = False
        state = self.finished[-1].get("rng")
        if state:
            set_rng_state(state)

    def finish(self, name: str, model: Any = None, processor: Any = None, results: Any = None) -> None:
        """Record phase ``name`` as finished: save ``model`` and ``processor`` (a PEFT model unwrapped, its
        adapters kept) atomically, write the state, drop the earlier phase folder and this phase's
        checkpoints. ``results``: JSON values to keep (:meth:`results`)."""
        k = self._index(name)
        entry: dict[str, Any] = {"name": name, "steps": self.phases[k].steps, "kind": self.phases[k].kind,
                                 "seconds": round(self.clock() - self._started.get(name, self.clock()), 3)}
        if results is not None:
            entry["results"] = json.loads(json.dumps(results, default=str))
        old = [e["folder"] for e in self.finished if e.get("folder")]
        if model is not None:
            folder = Path(PHASES_DIR) / self._folder_name(name)
            final, staging = self.dir / folder, self.dir / PHASES_DIR / (STAGING_PREFIX + folder.name)
            shutil.rmtree(staging, ignore_errors=True)
            unwrap_peft(model).save_pretrained(staging)
            if processor is not None:
                processor.save_pretrained(staging)
            if final.exists():
                shutil.rmtree(final)
            os.replace(staging, final)
            entry["folder"] = folder.as_posix()
        entry["rng"] = rng_state()
        self.finished = [e for e in self.finished if e["name"] != name] + [entry]
        _write_json(self.path, {"config": self.config, "phases": self.finished,
                                "seconds": round(self._elapsed(), 3)})
        for stale in old if model is not None else []:
            if stale != entry.get("folder"):
                shutil.rmtree(self.dir / stale, ignore_errors=True)
        shutil.rmtree(self.checkpoints(name), ignore_errors=True)
        self.log(f"phase {k + 1}/{len(self.phases)} {name} done in {duration(entry['seconds'])}"
                 + (f", saved to {self.dir / entry['folder']}" if model is not None else ""))

    def end(self) -> None:
        """After the last phase (before evaluating): a resumed run that reloaded a model and had nothing left
        to train puts the random generators where the uninterrupted run had them; logs the training time."""
        if self._rng_pending:
            self._restore_rng()
        self.log(f"training done: {len(self.finished)}/{len(self.phases)} phases, {duration(self._elapsed())}")


# ---------------------------------------------------------------------- trainers
class TrainableStateMixin:
    """Mix in before a transformers trainer: every ``checkpoint-N`` also holds the trainable parameters
    (``trainable_state.safetensors``), loaded back on resume. transformers saves only the adapters of a PEFT
    model, so a stage that trains LoRA beside whole modules (the projectors) would otherwise resume with those
    modules back where the stage began."""

    def _save_checkpoint(self, model, trial):
        from safetensors.torch import save_file
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            tensors = {n: p.detach().cpu().contiguous() for n, p in self.model.named_parameters() if p.requires_grad}
            save_file(tensors, str(folder / TRAINABLE_STATE_NAME), metadata={"format": "pt"})

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        from safetensors.torch import load_file

        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = Path(resume_from_checkpoint) / TRAINABLE_STATE_NAME
        if not path.is_file():
            return
        params = dict((model if model is not None else self.model).named_parameters())
        state = load_file(str(path))
        unknown = sorted(set(state) - set(params))
        if unknown:
            raise CheckpointError(path, f"parameters the model does not have: {unknown[:3]}")
        with torch.no_grad():
            for name, tensor in state.items():
                params[name].copy_(tensor)


def resumable(trainer_cls: type) -> type:
    """``resumable(SFTTrainer)``: atomic checkpoints (:func:`~hf_skeleton.training.checkpointing.atomic`)
    that also hold the trainable parameters (:class:`TrainableStateMixin`)."""
    from .checkpointing import atomic

    return atomic(type(f"Resumable{trainer_cls.__name__}", (TrainableStateMixin, trainer_cls), {}))


def batch_counter_callback(collator: Any):
    """A ``TrainerCallback`` that sets a collator's batch counters (augmentation and frame-sampling seeds
    ``seed + n``: :class:`~hf_skeleton.processing.collators.SkeletonSFTCollator`) to the batches a resumed
    run already consumed, so it draws what the uninterrupted run drew."""
    from transformers import TrainerCallback

    class ResumeBatchCounter(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            n = state.global_step * args.gradient_accumulation_steps
            c = collator
            while c is not None:
                for counter in ("_batches", "_calls"):
                    if hasattr(c, counter):
                        setattr(c, counter, n)
                c = getattr(c, "collator", None)
            return control

    return ResumeBatchCounter()


__all__ = [
    "NOT_COMPARED",
    "STATE_NAME",
    "Phase",
    "RecipeProgress",
    "RecipeResumeError",
    "TrainableStateMixin",
    "batch_counter_callback",
    "config_dict",
    "duration",
    "resumable",
    "rng_state",
    "set_rng_state",
]
