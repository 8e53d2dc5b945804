"""Train a small unified Superman on real CMU motion capture and score it strictly.

    OMP_NUM_THREADS=1 python examples/train_superman.py --out runs/superman
    hf-skeleton train superman --out runs/superman          # the same recipe

The steps (CMU -> H36M-17, a VGMT trained on task-normalised windows, the unified and single-task
runs, strict scoring against the baselines) are described in hf_skeleton.training.superman_recipe,
where the code lives; OUT/unified loads with pipeline("skeleton-generation", model="OUT/unified").
"""

from __future__ import annotations

import sys

from hf_skeleton.training import superman_recipe
from hf_skeleton.training.recipe_config import recipe_parser


def main(argv=None) -> None:
    parser = recipe_parser(superman_recipe.SupermanRecipeConfig, description=__doc__.splitlines()[0])
    (args,) = parser.parse_args_into_dataclasses(args=argv)
    given = sys.argv[1:] if argv is None else argv
    superman_recipe.run(args, command="python examples/train_superman.py " + " ".join(given),
                        log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
