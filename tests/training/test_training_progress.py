"""The training recipes show transformers' progress bar (tqdm, with an ETA) unless a user turns it off."""

from hf_skeleton.training.llamo_stages import stage_sft_config
from hf_skeleton.training.skeleton_llm_stages import stage_config as skeleton_llm_stage_config
from hf_skeleton.training.vgmt_recipe import vgmt_training_args


def test_recipe_configs_keep_the_progress_bar(tmp_path):
    configs = [stage_sft_config(str(tmp_path), 2), vgmt_training_args(str(tmp_path), max_steps=10)]
    configs.append(skeleton_llm_stage_config(1, str(tmp_path)))
    assert [c.disable_tqdm for c in configs] == [False, False, False]
    assert stage_sft_config(str(tmp_path), 2, disable_tqdm=True).disable_tqdm is True  # still the user's choice
