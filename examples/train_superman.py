"""Train a small unified Superman on real CMU motion capture and score it strictly.

1. CMU BVH trials -> H36M-17 joints in metres at ``--fps``; whole trials held out for testing.
2. A small skeleton-only VGMT is trained on ``--clip``-frame windows of the training trials.
3. Superman (a tiny Qwen2.5-VL on the VGMT's ``<skel_k>`` tokens) is trained on the task mixture
   (SkelPred + MIB), and, at the same budget (steps x batch), on each task alone.
4. Prediction (MPJPE per horizon, 80/160/320/400 ms) and in-betweening (MPJPE on the missing middle
   half) against the raw joints and against the tokenised ground truth, beside the zero-velocity and
   linear-interpolation baselines. Decoding is free (strict parsing: a failure counts, and is scored
   with the baseline's output) and template-constrained.

    OMP_NUM_THREADS=2 python examples/train_superman.py --out runs/superman
    hf-skeleton train superman --out runs/superman          # the same recipe

The recipe lives in hf_skeleton.training.superman_recipe; OUT/unified loads with
pipeline("skeleton-generation", model="OUT/unified").
"""

from __future__ import annotations

import argparse
import sys

from hf_skeleton.training import superman_recipe


def main(argv=None) -> None:
    parser = superman_recipe.add_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    superman_recipe.run(args, command="python examples/train_superman.py " + " ".join(given),
                        log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
