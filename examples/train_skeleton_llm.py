"""Train SkeletonLLM through the paper's four stages on real N-UCLA clips.

    python examples/train_skeleton_llm.py --output-dir skeleton-llm-nucla    # the embedded model's run: DrAction +
                                                                             # EfficientNet-Lite0 + SmolLM2 (offline)
    python examples/train_skeleton_llm.py --vision-model none --text-model none --frames 2 --size 56 \
        --per-class 1 --output-dir skllm_tiny                                # tiny VLM from scratch (tests), minutes
    python examples/train_skeleton_llm.py --vlm Qwen/Qwen2.5-VL-7B-Instruct  # a real checkpoint (GPU)
    accelerate launch examples/train_skeleton_llm.py ...                     # several GPUs, unchanged
    hf-skeleton train skeleton-llm --output-dir skeleton-llm-nucla           # the same recipe

Stages (hf_skeleton.training.skeleton_llm_stages, each a trl.SFTTrainer run):
  0  (tiny VLM only, not in the paper) whole model on the texts of all stages, so a random VLM
     learns the answer vocabulary
  1  alignment warm-up, multiple choice over seen labels: renderer + projector
  2  yes/no on confusable pairs (shipped N-UCLA table): renderer + projector
  3  rationales from a teacher (here the data-driven kinematic teacher; pass any HF model or
     function to RationaleBuilder), cached as JSONL: renderer + projector + LoRA (r=16; paper 32)
  4  recognition refinement: projector + LoRA, renderer frozen
Before and after every stage the script prints the stage's loss on its own examples (eval mode,
deterministic frames), so you can see each stage lower it. At the end LoRA stays unmerged, the model
is scored on N-UCLA view 3, the model, processor, results and card are saved, and the
skeleton-understanding pipeline reloads them from the folder. The recipe lives in
hf_skeleton.training.skeleton_llm_recipe.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from hf_skeleton.training import skeleton_llm_recipe
from hf_skeleton.training.recipe_config import recipe_parser


def main() -> None:
    parser = recipe_parser(skeleton_llm_recipe.SkeletonLLMRecipeConfig, description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    (config,) = parser.parse_args_into_dataclasses()
    skeleton_llm_recipe.run(config,
                            command="python examples/train_skeleton_llm.py " + " ".join(sys.argv[1:]),
                            log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
