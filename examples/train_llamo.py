"""Train LLaMo on real N-UCLA clips in two stages around SmolLM2-135M-Instruct (installed offline).

    python examples/train_llamo.py --output-dir llamo-nucla          # the embedded model's run (~50 min, 2 cores)
    python examples/train_llamo.py --text-model none --no-lora --hidden 64 --encoder-warmup-epochs 0 \
        --stage1-steps 50 --stage2-steps 4000 --lr 1e-3               # the tiny from-scratch LLM of the tests

The motion encoder first warms up with a classification head (our stand-in for the paper's pretrained
encoder); stage 1 aligns the motion projector with the encoder and the LLM frozen; stage 2 tunes the
projector, the encoder and LoRA adapters on a mixture of recognition (``--recognition-repeats`` copies),
yes/no verification and "which body part moves most" questions. Clips are aligned upright and
augmented (yaw, tilt, scale) after alignment. The folder written at the end holds only the trained
tensors and loads with ``pipeline("skeleton-understanding", model=<folder>)``. ``--text-model`` also
takes a causal-LM folder or a Hub id; ``--vision-model efficientnet-lite0`` adds a video tower.
"""

from __future__ import annotations

import sys

from hf_skeleton.training import llamo_recipe
from hf_skeleton.training.recipe_config import recipe_parser


def main() -> None:
    parser = recipe_parser(llamo_recipe.LlamoRecipeConfig, description=__doc__.splitlines()[0])
    (config,) = parser.parse_args_into_dataclasses()
    llamo_recipe.run(config, command="python examples/train_llamo.py " + " ".join(sys.argv[1:]), log=print)


if __name__ == "__main__":
    main()
