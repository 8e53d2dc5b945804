"""The motion recipes as Python functions, with the arguments of ``hf-skeleton train {vgmt, superman}`` (#15)::

    from hf_skeleton.training.api_motion import train_superman, train_vgmt

    train_vgmt(dataset="my_dataset", output_dir="vgmt-mine", max_steps=300)
    train_superman(dataset="user/skeleton-dataset", output_dir="superman-mine", base="smollm2-135m-instruct")

The keyword options are the recipe config's fields (:class:`~hf_skeleton.training.vgmt_cmu.VGMTRecipeConfig`,
:class:`~hf_skeleton.training.superman_recipe.SupermanRecipeConfig`); ``dataset=None`` runs the recipe on CMU,
as the CLI does without ``--dataset``. Motion needs no labels: the recipes read no label or text column. The
recipes (and their heavy imports) load on call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..errors import SkeletonInputError


def _train(recipe: Any, function: str, output_field: str, dataset: str | None, output_dir: str | None,
           train_split: str, eval_split: str | None, log: Callable[[str], Any] | None,
           options: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(recipe.RECIPE_CONFIG)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise SkeletonInputError(function, f"options among the recipe's fields {sorted(names)}", unknown)
    given = {"dataset": dataset, "train_split": train_split, "eval_split": eval_split or "none", **options}
    if output_dir is not None:
        given[output_field] = output_dir
    config = recipe.RECIPE_CONFIG(**given)
    defaults = recipe.RECIPE_CONFIG()
    shown = {k: v for k, v in given.items() if v != getattr(defaults, k)}
    command = f"hf_skeleton.training.{function}(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"
    return recipe.run(config, command=command, log=log)


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

    return _train(vgmt_cmu, "train_vgmt", "output_dir", dataset, output_dir, train_split, eval_split, log, options)


def train_superman(dataset: str | None = None, output_dir: str | None = None, *, train_split: str = "train",
                   eval_split: str | None = "test", log: Callable[[str], Any] | None = None,
                   **options: Any) -> dict[str, Any]:
    """Train Superman (a VGMT, then prediction + in-betweening) on a converted dataset, as :func:`train_vgmt`
    (same arguments); ``options`` are :class:`~hf_skeleton.training.superman_recipe.SupermanRecipeConfig` fields
    (``base="smollm2-135m-instruct"`` builds on a pretrained LLM). Returns the recipe's results (per run the
    losses and the free / constrained decoding scores per horizon beside the baselines; ``folder``: the
    unified model)."""
    from . import superman_recipe

    return _train(superman_recipe, "train_superman", "out", dataset, output_dir, train_split, eval_split, log,
                  options)


__all__ = ["train_superman", "train_vgmt"]
