"""Recipe options as typed, validated dataclasses (like lerobot's configs), parsed from the command line by
transformers' ``HfArgumentParser``: the CLI, the examples and Python callers share one definition.

    config = LlamoRecipeConfig(stage2_steps=500, lora=True)      # Python
    hf-skeleton train llamo --stage2-steps 500 --lora            # the same options from the CLI
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

from ..errors import SkeletonInputError

C = TypeVar("C")


def recipe_parser(config_cls: type, **parser_kwargs: Any):
    """An ``HfArgumentParser`` with one option per field of ``config_cls`` (``--field-name`` and
    ``--field_name``); callers may add their own options to it."""
    from transformers import HfArgumentParser

    return HfArgumentParser(config_cls, **parser_kwargs)


def as_config(config_cls: type[C], options: Any) -> C:
    """``options`` (a ``config_cls``, an ``argparse.Namespace`` or a dict, possibly with extra keys) as a
    validated ``config_cls``."""
    if isinstance(options, config_cls):
        return options
    values = vars(options) if isinstance(options, argparse.Namespace) else dict(options)
    names = {f.name for f in dataclasses.fields(config_cls)}
    return config_cls(**{k: v for k, v in values.items() if k in names})


def parse_recipe(config_cls: type[C], argv: Sequence[str], prog: str) -> C:
    """Parse ``argv`` into a validated ``config_cls`` (argparse errors exit with status 2, as usual)."""
    (config,) = recipe_parser(config_cls, prog=prog).parse_args_into_dataclasses(args=list(argv))
    return config


def require(config: Any, *, positive: Sequence[str] = (), non_negative: Sequence[str] = (),
            lengths: dict[str, int] | None = None) -> None:
    """Validation for ``__post_init__``: the named fields are > 0 / >= 0, lists have the given lengths."""
    name = type(config).__name__
    for field in positive:
        value = getattr(config, field)
        if isinstance(value, bool) or not value > 0:
            raise SkeletonInputError(f"{name}.{field}", "a positive number", value)
    for field in non_negative:
        value = getattr(config, field)
        if isinstance(value, bool) or not value >= 0:
            raise SkeletonInputError(f"{name}.{field}", "zero or a positive number", value)
    for field, n in (lengths or {}).items():
        value = list(getattr(config, field))
        if len(value) != n or any(not v > 0 for v in value):
            raise SkeletonInputError(f"{name}.{field}", f"{n} positive numbers", value)
