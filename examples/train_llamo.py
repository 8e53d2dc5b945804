"""Train a small LLaMo on real N-UCLA clips in two stages, on CPU, in minutes.

    python examples/train_llamo.py --output-dir llamo-nucla            # the embedded model's run, ~15 min on 2 idle cores
    python examples/train_llamo.py --stage2-steps 300                  # a quick run (the LLM has not caught on yet)
    python examples/train_llamo.py --lora --stage2-steps 400           # stage 2 with LoRA on q_proj/v_proj

Stage 1 aligns the motion projector (and the motion encoder, trained from scratch here) with the
LLM frozen; stage 2 instruction-tunes on a mixture of recognition (``--recognition-repeats`` copies),
yes/no verification and "which body part moves most" questions. Clips are aligned upright and
augmented (yaw, tilt, scale) after alignment. The folder written at the end loads with
``pipeline("skeleton-understanding", model=<folder>)``. For a real LLM pass ``--text-model`` (a
local checkpoint folder; this machine has no Hub access) and ``--vision-model`` for a video tower.
"""

from __future__ import annotations

import sys

from hf_skeleton.training import llamo_recipe
from hf_skeleton.training.recipe_config import recipe_parser


def main() -> None:
    parser = recipe_parser(llamo_recipe.LlamoRecipeConfig, description=__doc__.splitlines()[0])
    (config,) = parser.parse_args_into_dataclasses()
    llamo_recipe.run(config, command="python examples/train_llamo.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
