"""Evaluate an understanding model on one split of a converted skeleton dataset (``hf-skeleton evaluate M
--dataset DIR --split test``).

:func:`evaluate_dataset` scores every clip of the split against the split's label set by candidate
likelihood (:func:`~.recognition.score_candidate_labels`, the ranking the ``skeleton-understanding``
pipeline returns), and reports strict top-1, per-class recall, the confusion matrix and every prediction;
when the split has a text column it also generates a description of each clip and scores it against the
text (corpus BLEU-4 with sacrebleu, mean ROUGE-L F1 with rouge-score, both 0-100).
:func:`load_split` reads the split from a folder written by ``hf-skeleton convert`` or from the Hub;
:func:`save_confusion_matrix` draws the matrix as a PNG.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..dataset_tools.features import example_to_sequence
from ..errors import HFSkeletonError, SkeletonFileError, SkeletonInputError
from .protocols import RECOGNITION_QUESTION, balanced_indices, generate_answers
from .recognition import predict_labels, score_candidate_labels

CAPTION_PROMPT = "Describe the motion."
_CHUNK = 256  # rows turned into sequences at a time


def load_split(source: str | Path, split: str, config: str | None = None):
    """One split of a dataset: a folder converted by ``hf-skeleton convert`` (its card lists the data files)
    or a Hub dataset id (read through ``datasets.load_dataset``; offline, a one-line typed error).

    Raises:
        SkeletonFileError: a local folder without that split or configuration (naming the card).
        HFSkeletonError: a Hub id that cannot be read (offline, unknown, no such split).
    """
    path = Path(source)
    if path.is_dir():
        from ..dataset_tools.card import CARD_NAME, read_card_configs
        from ..dataset_tools.convert import load_converted

        configs = read_card_configs(path)
        config = config or next(iter(configs))
        if config not in configs:
            raise SkeletonFileError(path / CARD_NAME, "configs", f"a configuration named {config!r} "
                                    f"(the card lists {sorted(configs)})", config)
        if split not in configs[config]:
            raise SkeletonFileError(path / CARD_NAME, f"configs[{config}].data_files",
                                    f"a split named {split!r} (the card lists {sorted(configs[config])})", split)
        return load_converted(path, config, split)
    if str(source).count("/") != 1 or str(source).startswith((".", "/")):
        raise SkeletonFileError(source, None, "a folder converted by hf-skeleton convert or a Hub dataset id "
                                "(user/name)", "no such folder")
    import datasets

    try:
        return datasets.load_dataset(str(source), config, split=split)
    except Exception as err:  # noqa: BLE001 (offline, no network, unknown id or split: one line, no traceback)
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise HFSkeletonError(f"{source}: cannot read split {split!r} from the Hub ({type(err).__name__}: "
                              f"{reason[:300]})") from None


def column_names(dataset) -> list[str]:
    """The columns of a dataset split (of its first row when it has no ``column_names``)."""
    names = getattr(dataset, "column_names", None)
    if names is None and len(dataset):
        names = list(dataset[0])
    return list(names or [])


def split_labels(dataset, label_column: str, source: str) -> tuple[list[str], list[str]]:
    """(every row's label as text, the split's label set): a ClassLabel's names, else the sorted values.
    An empty text label is a :class:`SkeletonFileError` naming ``source`` and the column."""
    feature = (getattr(dataset, "features", None) or {}).get(label_column)
    values = dataset[label_column]
    names = getattr(feature, "names", None)
    if names is not None:
        labels = [names[int(v)] for v in values]
        return labels, list(names)
    labels = ["" if v is None else str(v) for v in values]
    if any(not text.strip() for text in labels):
        raise SkeletonFileError(source, f"column {label_column}", "a label on every row", "an empty label")
    return labels, sorted(set(labels))


def _confusion(labels: Sequence[str], predicted: Sequence[str], names: Sequence[str]) -> list[list[int]]:
    index = {name: k for k, name in enumerate(names)}
    matrix = [[0] * len(names) for _ in names]
    for truth, guess in zip(labels, predicted):
        matrix[index[truth]][index[guess]] += 1
    return matrix


def captioning_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU-4 (sacrebleu, 13a tokenisation) and mean ROUGE-L F1 (rouge-score, stemmed), both 0-100."""
    if len(predictions) != len(references) or not references:
        raise SkeletonInputError("predictions", f"{len(references)} predictions (one per reference, at least one)",
                                 len(predictions))
    try:
        import sacrebleu
        from rouge_score import rouge_scorer
    except ImportError as err:
        raise HFSkeletonError(f"captioning metrics need sacrebleu and rouge-score ({err}): "
                              "pip install 'hf_skeleton[eval]'") from None
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    rouge = [scorer.score(ref, hyp)["rougeL"].fmeasure for ref, hyp in zip(references, predictions)]
    return {"bleu4": float(sacrebleu.corpus_bleu(list(predictions), [list(references)]).score),
            "rougeL_f1": 100.0 * sum(rouge) / len(rouge)}


def evaluate_dataset(model: Any, processor: Any, dataset: Any, *, label_column: str | None = "label",
                     text_column: str | None = None, candidate_labels: Sequence[str] | None = None,
                     question: str = RECOGNITION_QUESTION, caption_prompt: str = CAPTION_PROMPT,
                     captioning: bool = True, batch_size: int = 32, max_new_tokens: int = 32,
                     limit: int | None = None, seed: int = 0, source: str | None = None,
                     progress: Callable | None = None) -> dict[str, Any]:
    """Score an understanding model (SkeletonLLM, LLaMo) on one split of a skeleton dataset.

    Args:
        dataset: a ``datasets.Dataset`` (one split) whose rows hold the package's skeleton features
            (``positions``, ``mask``, ``format``/``format_spec``; see :mod:`hf_skeleton.dataset_tools`).
        label_column: the class of each row: a ``ClassLabel`` (its names are the label set, classes absent
            from the split included) or text (the split's distinct values, sorted). ``None``: a
            captioning-only dataset (no classes): only the captioning scores, on the rows with a text.
        text_column: the reference description of each row; ``None`` uses ``text`` when the split has it.
            Rows with an empty text are left out of the captioning scores.
        candidate_labels: score against these names instead of the split's label set (each row's label
            must be one of them).
        captioning: ``False`` skips the generated descriptions even when there is a text column.
        limit: a seeded, class-balanced sample of this many rows (:func:`~.protocols.balanced_indices`).
        source: the dataset's name in error messages (a folder or Hub id).
        progress: wraps the iterables of batches (e.g. ``tqdm``), for progress on stderr.

    Returns:
        ``{"num_clips", "top1", "chance", "labels", "per_class" (label -> recall, classes with clips),
        "support" (label -> clips), "confusion_matrix" (rows: true label, columns: predicted, in the order
        of "labels"), "predictions" ([{"id", "label", "predicted"}]), "question"}``, plus ``"captioning":
        {"bleu4", "rougeL_f1", "num_texts", "prompt", "text_column"}`` when the split has texts. Captioning
        only (``label_column=None``): ``"top1"`` and ``"chance"`` are None, the label fields empty,
        ``"num_clips"`` counts the rows with a text and ``"predictions"`` hold ``{"id", "reference",
        "generated"}``.

    Raises:
        SkeletonFileError: a missing label or text column, an empty split, a label outside the candidates.
    """
    source = str(source or "dataset")
    columns = column_names(dataset)
    if label_column is None:
        return _evaluate_captions(model, processor, dataset, columns, text_column, caption_prompt, batch_size,
                                  max_new_tokens, limit, seed, source, progress)
    if label_column not in columns:
        raise SkeletonFileError(source, f"column {label_column}", f"one of the split's columns {columns}",
                                "no such column")
    if text_column is not None and text_column not in columns:
        raise SkeletonFileError(source, f"column {text_column}", f"one of the split's columns {columns}",
                                "no such column")
    if len(dataset) == 0:
        raise SkeletonFileError(source, None, "a split with at least one clip", "0 rows")
    text_column = text_column or ("text" if "text" in columns else None)
    labels, names = split_labels(dataset, label_column, source)
    if candidate_labels is not None:
        names = list(candidate_labels)
    outside = sorted(set(labels) - set(names))
    if outside:
        raise SkeletonFileError(source, f"column {label_column}", f"labels among the candidates {names}", outside)
    rows = list(range(len(dataset)))
    if limit is not None:
        rows = balanced_indices(labels, limit, seed=seed)
    labels = [labels[i] for i in rows]
    texts = [str(t or "") for t in dataset.select(rows)[text_column]] if text_column and captioning else None
    ids = dataset.select(rows)["id"] if "id" in columns else [str(i) for i in rows]

    model.eval()
    predicted: list[str] = []
    answers: list[str] = []
    todo = [i for i, t in enumerate(texts or []) if t.strip()]
    chunks = range(0, len(rows), _CHUNK)
    for start in (progress(chunks) if progress else chunks):
        part = dataset.select(rows[start:start + _CHUNK]).with_format("numpy")
        clips = [example_to_sequence(row) for row in part]
        scores = score_candidate_labels(model, processor, clips, question, names, batch_size=batch_size)
        predicted += predict_labels(scores, names)
        wanted = [clips[i - start] for i in todo if start <= i < start + _CHUNK]
        if wanted:
            answers += generate_answers(model, processor, wanted, caption_prompt, batch_size=batch_size,
                                        max_new_tokens=max_new_tokens)
    support = {name: labels.count(name) for name in names if name in labels}
    correct = {name: sum(t == p == name for t, p in zip(labels, predicted)) for name in support}
    result: dict[str, Any] = {
        "num_clips": len(rows),
        "top1": sum(t == p for t, p in zip(labels, predicted)) / len(rows),
        "chance": 1.0 / len(names),
        "labels": list(names),
        "per_class": {name: correct[name] / n for name, n in support.items()},
        "support": support,
        "confusion_matrix": _confusion(labels, predicted, names),
        "predictions": [{"id": str(i), "label": t, "predicted": p} for i, t, p in zip(ids, labels, predicted)],
        "question": question,
    }
    if todo:
        refs = [texts[i] for i in todo]
        result["captioning"] = {**captioning_metrics(answers, refs), "num_texts": len(refs),
                                "prompt": caption_prompt, "text_column": text_column,
                                "examples": [{"id": str(ids[i]), "reference": r, "generated": a}
                                             for i, r, a in list(zip(todo, refs, answers))[:5]]}
    return result


def _evaluate_captions(model: Any, processor: Any, dataset: Any, columns: list[str], text_column: str | None,
                       caption_prompt: str, batch_size: int, max_new_tokens: int, limit: int | None, seed: int,
                       source: str, progress: Callable | None) -> dict[str, Any]:
    """:func:`evaluate_dataset` of a captioning-only split: generated descriptions against the texts."""
    text_column = text_column or "text"
    if text_column not in columns:
        raise SkeletonFileError(source, f"column {text_column}", "a text column to score descriptions against "
                                f"(no label column: captioning only), one of {columns}", "no such column")
    texts = ["" if t is None else str(t) for t in dataset[text_column]]
    rows = [i for i, t in enumerate(texts) if t.strip()]
    if not rows:
        raise SkeletonFileError(source, f"column {text_column}", "at least one row with a text", "none")
    if limit is not None:  # a seeded sample (one class: the balanced draw is a plain one)
        rows = [rows[i] for i in balanced_indices([0] * len(rows), limit, seed=seed)]
    ids = dataset.select(rows)["id"] if "id" in columns else [str(i) for i in rows]
    model.eval()
    answers: list[str] = []
    chunks = range(0, len(rows), _CHUNK)
    for start in (progress(chunks) if progress else chunks):
        part = dataset.select(rows[start:start + _CHUNK]).with_format("numpy")
        answers += generate_answers(model, processor, [example_to_sequence(row) for row in part], caption_prompt,
                                    batch_size=batch_size, max_new_tokens=max_new_tokens)
    refs = [texts[i] for i in rows]
    return {"num_clips": len(rows), "top1": None, "chance": None, "labels": [], "per_class": {}, "support": {},
            "confusion_matrix": [], "question": None,
            "predictions": [{"id": str(i), "reference": r, "generated": a} for i, r, a in zip(ids, refs, answers)],
            "captioning": {**captioning_metrics(answers, refs), "num_texts": len(refs), "prompt": caption_prompt,
                           "text_column": text_column,
                           "examples": [{"id": str(i), "reference": r, "generated": a}
                                        for i, r, a in list(zip(ids, refs, answers))[:5]]}}


def slug(text: str) -> str:
    """``text`` as a file-name and dataset-type fragment (letters, digits, ``._-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "dataset"


def dataset_name(source: str | Path) -> str:
    """How a dataset is named in results: a local folder's name, else the Hub id as given."""
    path = Path(source)
    return path.resolve().name if path.is_dir() else str(source)


def stored_result(result: Mapping[str, Any], source: str | Path, split: str, *, config: str | None = None,
                  confusion_matrix: str | None = None) -> dict[str, dict[str, Any]]:
    """``{"NAME (SPLIT)": entry}``: what ``eval_results.json`` keeps of an :func:`evaluate_dataset` result
    (top-1 and chance unless captioning only, clips, captioning scores) with how it enters the card's model-index (the dataset's Hub id,
    or its folder name, the split, the configuration, the confusion matrix PNG's name in the folder)."""
    from ..cards import INDEX_KEY, is_hub_id

    name = dataset_name(source)
    local = Path(source).is_dir()
    index = {"dataset_type": str(source) if is_hub_id(str(source)) and not local else slug(name).lower(),
             "dataset_name": name, "dataset_split": split, **({"dataset_config": config} if config else {})}
    if confusion_matrix:
        index["confusion_matrix"] = confusion_matrix
    captions = result.get("captioning") or {}
    entry = {**{k: result[k] for k in ("top1", "chance") if result.get(k) is not None},
             "num_clips": result["num_clips"], **{k: captions[k] for k in ("bleu4", "rougeL_f1") if k in captions},
             INDEX_KEY: index}
    return {f"{name} ({split})": entry}


def save_confusion_matrix(result: Mapping[str, Any], path: str | Path, *, title: str | None = None) -> Path:
    """Draw ``result["confusion_matrix"]`` (from :func:`evaluate_dataset`) as a PNG: rows are the true
    labels, columns the predictions, each cell its count, shaded by the row's share."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(result["labels"])
    counts = np.asarray(result["confusion_matrix"], dtype=float).reshape(len(names), len(names))
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    side = 2.5 + 0.55 * len(names)
    fig = Figure(figsize=(side + 1.5, side))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true label")
    for i in range(len(names)):
        for j in range(len(names)):
            if counts[i, j]:
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the row")
    ax.set_title(title or f"top-1 {result['top1']:.3f} on {result['num_clips']} clips", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


__all__ = ["CAPTION_PROMPT", "captioning_metrics", "column_names", "dataset_name", "evaluate_dataset", "load_split",
           "save_confusion_matrix", "slug", "split_labels", "stored_result"]
