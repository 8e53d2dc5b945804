"""Convert a Pose2Sim trial (videos/, pose/camXX_json/, pose-3d/*.trc, calibration/) into sharded parquet + a dataset card.

Usage: python dataset_scripts/convert_pose2sim.py RAW_DIR OUT_DIR [--num-shards N] [--num-proc N] [--limit N] ...
Same as: hf-skeleton convert RAW_DIR OUT_DIR --dataset pose2sim (the logic lives in hf_skeleton.dataset_tools).
"""

import sys

from hf_skeleton.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:], "--dataset", "pose2sim"]))
