"""What a training recipe learns from and is scored on: our N-UCLA recordings, or any converted dataset (#15).

Both recipes (:mod:`~hf_skeleton.training.llamo_recipe`, :mod:`~hf_skeleton.training.skeleton_llm_recipe`) get
their clips from :func:`recipe_data`: without ``dataset`` their own N-UCLA loader runs (views 1-2 to train,
view 3 to test, the N-UCLA label names); with ``dataset`` (a folder written by ``hf-skeleton convert``, or a
Hub dataset id) :func:`dataset_recipe_data` reads one split to train on and keeps another to evaluate with
:func:`~hf_skeleton.evaluation.dataset_eval.evaluate_dataset`:

- the label set (a ``ClassLabel``'s names, else the sorted label texts of both splits) becomes the
  instruction answers and the candidates;
- a dataset without labels (``--label-column none``, or no ``label`` column but a text column) is
  captioning only: its captioned clips train description (LLaMo; SkeletonLLM needs labels) and its
  evaluation scores generated descriptions (BLEU-4, ROUGE-L);
- a text column, when the dataset has one, gives captions (LLaMo's captioning examples, SkeletonLLM's
  rationales);
- the skeleton format comes from the rows (``format_spec``, so a user ``FORMAT.json`` travels with the data):
  the most common one among the training rows; rows in other formats are converted to it by joint name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SkeletonFileError, SkeletonInputError
from ..skeletons.formats import SkeletonFormat
from ..skeletons.sequence import SkeletonSequence

NO_SPLIT = ("", "none")  # --eval-split none: train only


@dataclass
class DatasetOptions:
    """The ``--dataset`` options shared by the recipes' configs (they inherit these fields)."""

    dataset: str | None = field(default=None, metadata={
        "help": "train on a converted dataset instead of N-UCLA: a folder written by `hf-skeleton convert` or a "
                "Hub dataset id; its label names become the answers, its format the model's"})
    train_split: str = field(default="train", metadata={"help": "--dataset: the split to train on"})
    eval_split: str = field(default="test", metadata={"help": "--dataset: the split to evaluate on ('none': skip)"})
    label_column: str = field(default="label", metadata={
        "help": "--dataset: the class column; 'none' (or no 'label' column beside a text column): captioning "
                "only (LLaMo)"})
    text_column: str = field(default="text", metadata={
        "help": "--dataset: captions (LLaMo's describing stage, SkeletonLLM's rationales), when the column exists"})


@dataclass
class RecipeData:
    """The clips of a training run and what to score it on.

    Attributes:
        train: training clips; ``labels`` their label names (None: a captioning-only dataset), ``texts`` their
            captions ("" for a clip without one; None when the data has no text column), ``keys`` a unique id
            each (caches of generated text).
        names: the label set (instruction answers, candidates; empty when captioning only).
        format: the skeleton format of every training clip (the model's format).
        source: ``"N-UCLA"``, or the dataset folder / Hub id.
        test: N-UCLA test clips (view 3); None for a dataset.
        eval_split: the dataset split scored by :func:`~hf_skeleton.evaluation.dataset_eval.evaluate_dataset`
            (a ``datasets.Dataset``); None for N-UCLA or with ``--eval-split none``.
    """

    train: list[SkeletonSequence]
    labels: list[str] | None
    names: list[str]
    format: SkeletonFormat
    source: str = "N-UCLA"
    texts: list[str] | None = None
    keys: list[str] = field(default_factory=list)
    test: list[SkeletonSequence] | None = None
    eval_split: Any = None
    eval_split_name: str | None = None
    label_column: str | None = "label"
    text_column: str | None = None
    config: str | None = None

    def __post_init__(self):
        if not self.keys:
            self.keys = [str(s.meta.get("source") or s.meta.get("id") or i) for i, s in enumerate(self.train)]

    @property
    def is_dataset(self) -> bool:
        return self.source != "N-UCLA"

    @property
    def captioning_only(self) -> bool:
        """A dataset without labels: its clips come with captions only."""
        return self.labels is None

    def subset(self, indices: list[int]) -> RecipeData:
        """The same data with only the training clips at ``indices`` (in that order)."""
        def pick(values):
            return None if values is None else [values[i] for i in indices]

        return RecipeData(**{**self.__dict__, "train": pick(self.train), "labels": pick(self.labels),
                             "texts": pick(self.texts), "keys": pick(self.keys)})

    def captioned(self) -> list[int]:
        """Indices of the training clips that have a caption."""
        return [i for i, t in enumerate(self.texts or []) if t.strip()]


def recipe_data(args: Any, nucla: Callable[[], RecipeData], log: Callable[[str], Any] = print) -> RecipeData:
    """The one data path of the recipes: ``args.dataset`` given, that dataset (:func:`dataset_recipe_data`
    with the config's ``train_split``, ``eval_split``, ``label_column``, ``text_column``); else ``nucla()``,
    the recipe's own N-UCLA loading."""
    if not getattr(args, "dataset", None):
        return nucla()
    if getattr(args, "data", None):
        raise SkeletonInputError("data", "no --data with --dataset (--data is the N-UCLA folder)", args.data)
    if getattr(args, "unseen_split", None):
        raise SkeletonInputError("unseen_split", "no --unseen-split with --dataset (it names N-UCLA splits)",
                                 args.unseen_split)
    return dataset_recipe_data(args.dataset, train_split=args.train_split, eval_split=args.eval_split,
                               label_column=args.label_column, text_column=args.text_column, log=log)


def in_one_format(clips: list[SkeletonSequence], source: str, log: Callable[[str], Any] = print
                  ) -> tuple[list[SkeletonSequence], SkeletonFormat]:
    """The clips in the most common format among them (the others converted by joint name), and that format."""
    counts = Counter(c.format.name for c in clips)
    fmt = next(c.format for c in clips if c.format.name == counts.most_common(1)[0][0])
    if len(counts) > 1:
        log(f"{source}: clips in {len(counts)} formats; the {counts[fmt.name]} in {fmt.name!r} kept as they are, "
            "the others converted by joint name")
    return [c if c.format == fmt else c.to_format(fmt) for c in clips], fmt


def dataset_recipe_data(source: str | Path, *, train_split: str = "train", eval_split: str | None = "test",
                        label_column: str = "label", text_column: str | None = "text", config: str | None = None,
                        log: Callable[[str], Any] = print) -> RecipeData:
    """Read ``train_split`` of a converted dataset as training clips, and keep ``eval_split`` (None or "none":
    no evaluation) for :func:`~hf_skeleton.evaluation.dataset_eval.evaluate_dataset`.

    ``text_column``: captions; a missing ``"text"`` column (the default) means none, any other missing column
    is an error. ``label_column`` None or "none", or the default ``"label"`` missing beside a text column: a
    captioning-only dataset (``labels`` None, ``names`` empty; only its captioned clips train, and the
    evaluation split is scored on its texts).

    Raises:
        SkeletonFileError: a missing split, label or text column, an empty split, a captioning-only dataset
            without a text column or without a caption (naming the dataset).
    """
    from ..dataset_tools.features import example_to_sequence
    from ..evaluation.dataset_eval import column_names, load_split, split_labels

    source = str(source)
    train = load_split(source, train_split, config)
    columns = column_names(train)
    if len(train) == 0:
        raise SkeletonFileError(source, f"split {train_split}", "a split with at least one clip", "0 rows")
    if str(text_column or "").lower() in NO_SPLIT:
        text_column = None
    if str(label_column or "").lower() in NO_SPLIT:
        label_column = None
    elif label_column not in columns and not (label_column == "label" and text_column in columns):
        raise SkeletonFileError(source, f"column {label_column}", f"a label column, one of {columns} "
                                "(--label-column; 'none' for a captioning-only dataset)", "no such column")
    elif label_column not in columns:
        log(f"{source}: no {label_column!r} column: captioning only, on its {text_column or 'text'!r} texts "
            "(--label-column none)")
        label_column = None
    if text_column and text_column not in columns:
        if text_column != "text" or label_column is None:
            raise SkeletonFileError(source, f"column {text_column}", f"a text column, one of {columns} "
                                    "(--text-column)" + ("; a dataset without labels trains on its captions"
                                                         if label_column is None else ""), "no such column")
        text_column = None
    if label_column is None and text_column is None:
        raise SkeletonFileError(source, "column text", "a text column (--text-column): a dataset without labels "
                                "trains on its captions", "--text-column none")
    labels, names = split_labels(train, label_column, source) if label_column else (None, [])
    if label_column is None:  # only the captioned clips train
        keep = [i for i, t in enumerate(train[text_column]) if str(t or "").strip()]
        if not keep:
            raise SkeletonFileError(source, f"column {text_column}", f"captions in split {train_split} (no labels: "
                                    "captioning only)", "no clip with a caption")
        if len(keep) < len(train):
            log(f"{source}: {len(train) - len(keep)} {train_split} clips without a caption left out")
            train = train.select(keep)
    evaluation = None
    if eval_split and str(eval_split).lower() not in NO_SPLIT:
        evaluation = load_split(source, eval_split, config)
        if label_column is None and text_column not in column_names(evaluation):
            raise SkeletonFileError(source, f"split {eval_split}, column {text_column}", "texts to score the "
                                    "descriptions against (no labels: captioning only; --eval-split none skips "
                                    "the evaluation)", "no such column")
        if label_column and label_column in column_names(evaluation) and len(evaluation):
            _, eval_names = split_labels(evaluation, label_column, source)
            names = list(dict.fromkeys(names + [n for n in eval_names if n not in names]))
            if getattr(getattr(train, "features", {}).get(label_column), "names", None) is None:
                names = sorted(names)  # text labels: the sorted union, as evaluate_dataset sorts a split's
    else:
        eval_split = None
    rows = train.with_format("numpy")
    clips, fmt = in_one_format([example_to_sequence(row) for row in rows], source, log)
    texts = [str(t or "") for t in train[text_column]] if text_column else None
    ids = [str(i) for i in train["id"]] if "id" in columns else [str(i) for i in range(len(train))]
    log(f"{source}: {len(clips)} {train_split} clips "
        + (f"of {len(names)} labels" if label_column else "with captions, no labels") + f" in format {fmt.name!r} "
        f"({fmt.num_joints} joints{'' if fmt.is_tree else f', {len(fmt.roots)} parts'})"
        + (f", {sum(bool(t.strip()) for t in texts)} with a {text_column!r} caption" if texts else "")
        + (f"; evaluation on {eval_split} ({len(evaluation)} clips)" if evaluation is not None else ""))
    return RecipeData(train=clips, labels=labels, names=list(names), format=fmt, source=source, texts=texts,
                      keys=ids, eval_split=evaluation, eval_split_name=eval_split, label_column=label_column,
                      text_column=text_column, config=config)


def evaluate_recipe_data(model: Any, processor: Any, data: RecipeData, export: str | Path, *,
                         limit: int | None = None, seed: int = 0, batch_size: int = 32,
                         log: Callable[[str], Any] = print) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score a trained model on ``data.eval_split`` with :func:`~hf_skeleton.evaluation.dataset_eval.evaluate_dataset`
    (the function behind ``hf-skeleton evaluate --dataset``), draw the confusion matrix into ``export`` (none for a
    captioning-only dataset: BLEU-4 and ROUGE-L only); returns ``(result, stored)``: the full result and the
    ``eval_results.json`` entry for the card."""
    from ..evaluation.dataset_eval import (
        dataset_name,
        evaluate_dataset,
        save_confusion_matrix,
        slug,
        stored_result,
    )

    name, split = dataset_name(data.source), data.eval_split_name
    result = evaluate_dataset(model, processor, data.eval_split, label_column=data.label_column,
                              text_column=data.text_column, batch_size=batch_size, limit=limit or None, seed=seed,
                              source=data.source)
    captions = result.get("captioning")
    if data.captioning_only:  # no classes: no confusion matrix
        log(f"{name} ({split}): BLEU-4 {captions['bleu4']:.1f}, ROUGE-L {captions['rougeL_f1']:.1f} on "
            f"{result['num_clips']} captioned clips")
        return result, stored_result(result, data.source, split, config=data.config)
    png = save_confusion_matrix(result, Path(export) / f"confusion_matrix_{slug(name)}_{slug(split)}.png",
                                title=f"{Path(str(export)).name} on {name} ({split}): top-1 {result['top1']:.3f}")
    log(f"{name} ({split}): top-1 {result['top1']:.4f} on {result['num_clips']} clips (chance {result['chance']:.3f})"
        + (f", BLEU-4 {captions['bleu4']:.1f}, ROUGE-L {captions['rougeL_f1']:.1f}" if captions else ""))
    return result, stored_result(result, data.source, split, config=data.config, confusion_matrix=png.name)


def alignment_note(fmt: SkeletonFormat, asked: str, used: str) -> str | None:
    """A log line when a recipe's processor aligns views otherwise than asked (None when as asked): the mode
    used, and what the format lacks for the one asked (:func:`~hf_skeleton.skeletons.geometry.view_alignment_lacks`)."""
    from ..skeletons.geometry import view_alignment_lacks

    if used == asked:
        return None
    lacks = view_alignment_lacks(fmt, asked)
    return (f"align_view={used!r} (asked {asked!r}" + (f"; format {fmt.name!r} cannot be aligned {asked!r}, which needs "
                                                       f"{lacks[1]}" if lacks else "") + ")")


def card_datasets(data: RecipeData) -> list[str]:
    """What a model card lists as training data: N-UCLA, a Hub id, or a local dataset folder's name."""
    from ..evaluation.dataset_eval import dataset_name

    return [dataset_name(data.source)] if data.is_dataset else ["N-UCLA"]


__all__ = ["DatasetOptions", "RecipeData", "alignment_note", "card_datasets", "dataset_recipe_data", "evaluate_recipe_data",
           "recipe_data"]
