"""Recipe options are typed, validated dataclasses; the CLI parses them with transformers' HfArgumentParser."""

import argparse

import pytest

import hf_skeleton as hs
from hf_skeleton.cli import main
from hf_skeleton.training import llamo_recipe, skeleton_llm_recipe, superman_recipe, vgmt_cmu
from hf_skeleton.training.recipe_config import as_config, parse_recipe

RECIPES = [llamo_recipe, skeleton_llm_recipe, superman_recipe, vgmt_cmu]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.__name__.rsplit(".", 1)[-1])
def test_defaults_are_the_documented_recipe(recipe):
    config = recipe.RECIPE_CONFIG()
    assert parse_recipe(recipe.RECIPE_CONFIG, [], prog="x") == config  # the CLI's defaults are the dataclass's


def test_flags_take_dashes_or_underscores_and_lists():
    config = parse_recipe(llamo_recipe.LlamoRecipeConfig, ["--stage2-steps", "7", "--batch_size", "4", "--lora",
                                                           "--align-view", "facing"], prog="x")
    assert (config.stage2_steps, config.batch_size, config.lora, config.align_view) == (7, 4, True, "facing")
    sk = parse_recipe(skeleton_llm_recipe.SkeletonLLMRecipeConfig, ["--epochs", "1", "2", "3", "4", "5"], prog="x")
    assert sk.epochs == [1, 2, 3, 4, 5]
    assert parse_recipe(superman_recipe.SupermanRecipeConfig, ["--output-dir", "o"], prog="x").out == "o"


@pytest.mark.parametrize("config_cls, bad, field", [
    (llamo_recipe.LlamoRecipeConfig, {"stage2_steps": -1}, "stage2_steps"),
    (llamo_recipe.LlamoRecipeConfig, {"augment_angle": -1.0}, "augment_angle"),
    (skeleton_llm_recipe.SkeletonLLMRecipeConfig, {"epochs": [1, 1]}, "epochs"),
    (superman_recipe.SupermanRecipeConfig, {"lr": 0.0}, "lr"),
    (vgmt_cmu.VGMTRecipeConfig, {"threads": 0}, "threads"),
])
def test_bad_values_are_typed_errors_naming_the_field(config_cls, bad, field):
    with pytest.raises(hs.SkeletonInputError, match=f"{config_cls.__name__}.{field}"):
        config_cls(**bad)


@pytest.mark.parametrize("config_cls", [llamo_recipe.LlamoRecipeConfig, skeleton_llm_recipe.SkeletonLLMRecipeConfig])
def test_an_unknown_open_vocabulary_split_is_a_typed_error(config_cls):
    with pytest.raises(hs.SkeletonInputError, match="8/2-seed0"):  # the error lists the shipped splits
        config_cls(unseen_split="7/3")


def test_parsed_namespaces_become_configs():
    namespace = argparse.Namespace(stage2_steps=3, experiment="cmu")  # extra keys (an example's own) are ignored
    config = as_config(llamo_recipe.LlamoRecipeConfig, namespace)
    assert isinstance(config, llamo_recipe.LlamoRecipeConfig) and config.stage2_steps == 3


def test_cli_rejects_a_bad_value_in_one_line(capsys):
    assert main(["train", "llamo", "--stage2-steps", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stage2_steps" in err[0]
