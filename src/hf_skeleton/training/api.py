"""One Python function per recipe, with the same arguments, for training on one's own data (#15)::

    import hf_skeleton as hs

    hs.training.train_llamo(dataset="my_dataset", output_dir="llamo-mine", base="none", stage2_steps=50)
    hs.training.train_skeleton_llm(dataset="user/skeleton-dataset", output_dir="skllm-mine")
    hs.training.train_llamo(dataset="my_dataset", output_dir="llamo-mine", base="none", resume=True)  # after a crash
    hs.training.train_vgmt(dataset="my_dataset", output_dir="vgmt-mine", max_steps=300)  # motion: no labels needed
    hs.training.train_superman(dataset="my_dataset", output_dir="superman-mine", base="smollm2-135m-instruct")

Each is ``hf-skeleton train MODEL --dataset ...`` from Python: the keyword options are the recipe config's
fields (:class:`~hf_skeleton.training.llamo_recipe.LlamoRecipeConfig`,
:class:`~hf_skeleton.training.skeleton_llm_recipe.SkeletonLLMRecipeConfig`,
:class:`~hf_skeleton.training.vgmt_cmu.VGMTRecipeConfig`,
:class:`~hf_skeleton.training.superman_recipe.SupermanRecipeConfig`); ``dataset=None`` runs the recipe on our
recordings (N-UCLA, CMU BVH), as the CLI does without ``--dataset``. The recipes (and their heavy imports) load on call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..errors import SkeletonInputError


def _train(recipe: Any, function: str, dataset: str | None, output_dir: str | None, log: Callable[[str], Any] | None,
           options: dict[str, Any], output_field: str = "output_dir", **data_options: Any) -> dict[str, Any]:
    """``recipe.run`` on ``recipe.RECIPE_CONFIG(dataset=..., **data_options, **options)``; unknown options are a
    typed error naming the function; the command recorded in the card shows the non-default arguments."""
    names = {f.name for f in dataclasses.fields(recipe.RECIPE_CONFIG)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise SkeletonInputError(function, f"options among the recipe's fields {sorted(names)}", unknown)
    given = {"dataset": dataset, **data_options, **options}
    if output_dir is not None:
        given[output_field] = output_dir
    config = recipe.RECIPE_CONFIG(**given)
    defaults = recipe.RECIPE_CONFIG()
    shown = {k: v for k, v in given.items() if v != getattr(defaults, k)}
    command = f"hf_skeleton.training.{function}(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"
    return recipe.run(config, command=command, log=log)


def _labelled(train_split: str, eval_split: str | None, label_column: str | None,
              text_column: str | None) -> dict[str, Any]:
    return {"train_split": train_split, "eval_split": eval_split or "none", "label_column": label_column or "none",
            "text_column": text_column or ""}


def train_llamo(dataset: str | None = None, output_dir: str | None = None, *, train_split: str = "train",
                eval_split: str | None = "test", label_column: str | None = "label", text_column: str | None = "text",
                log: Callable[[str], Any] | None = None, **options: Any) -> dict[str, Any]:
    """Train LLaMo on a converted dataset (a folder written by ``hf-skeleton convert`` or a Hub dataset id;
    None: N-UCLA) and evaluate it on ``eval_split`` (None: no evaluation); ``label_column=None`` (or a dataset
    without a ``label`` column) trains on the ``text_column`` captions alone and scores BLEU-4 / ROUGE-L;
    ``options`` are :class:`~hf_skeleton.training.llamo_recipe.LlamoRecipeConfig` fields (``base=``,
    ``resume=True``, ...). Returns the recipe's results (``top1``, None when captioning only, ``clips``,
    ``folder``, ``evaluation``)."""
    from . import llamo_recipe

    return _train(llamo_recipe, "train_llamo", dataset, output_dir, log, options,
                  **_labelled(train_split, eval_split, label_column, text_column))


def train_skeleton_llm(dataset: str | None = None, output_dir: str | None = None, *, train_split: str = "train",
                       eval_split: str | None = "test", label_column: str = "label", text_column: str | None = "text",
                       log: Callable[[str], Any] | None = None, **options: Any) -> dict[str, Any]:
    """Train SkeletonLLM on a converted dataset, as :func:`train_llamo` (same arguments); ``options`` are
    :class:`~hf_skeleton.training.skeleton_llm_recipe.SkeletonLLMRecipeConfig` fields."""
    from . import skeleton_llm_recipe

    return _train(skeleton_llm_recipe, "train_skeleton_llm", dataset, output_dir, log, options,
                  **_labelled(train_split, eval_split, label_column, text_column))


def train_vgmt(dataset: str | None = None, output_dir: str | None = None, *, train_split: str = "train",
               eval_split: str | None = "test", log: Callable[[str], Any] | None = None,
               **options: Any) -> dict[str, Any]:
    """Train the VGMT motion tokenizer on a converted dataset (a folder written by ``hf-skeleton convert`` or a
    Hub dataset id; None: CMU) in the dataset's own skeleton format, and score its reconstruction on
    ``eval_split`` (None: no evaluation); ``options`` are
    :class:`~hf_skeleton.training.vgmt_cmu.VGMTRecipeConfig` fields. Returns the recipe's results
    (``held_out``: ``mpjpe`` in the data's units, ``mpjpe_mm``, the codebook's health; ``folder``: the saved
    model)."""
    from . import vgmt_cmu

    return _train(vgmt_cmu, "train_vgmt", dataset, output_dir, log, options, train_split=train_split,
                  eval_split=eval_split or "none")


def train_superman(dataset: str | None = None, output_dir: str | None = None, *, train_split: str = "train",
                   eval_split: str | None = "test", log: Callable[[str], Any] | None = None,
                   **options: Any) -> dict[str, Any]:
    """Train Superman (a VGMT, then prediction + in-betweening) on a converted dataset, as :func:`train_vgmt`
    (same arguments); ``options`` are :class:`~hf_skeleton.training.superman_recipe.SupermanRecipeConfig` fields
    (``base="smollm2-135m-instruct"`` builds on a pretrained LLM). Returns the recipe's results (per run the
    losses and the free / constrained decoding scores per horizon beside the baselines; ``folder``: the
    unified model)."""
    from . import superman_recipe

    return _train(superman_recipe, "train_superman", dataset, output_dir, log, options, output_field="out",
                  train_split=train_split, eval_split=eval_split or "none")


__all__ = ["train_llamo", "train_skeleton_llm", "train_superman", "train_vgmt"]
