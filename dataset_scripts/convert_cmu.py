"""Convert CMU motion capture BVH files (+ cmu_motion_labels.csv beside them) into sharded parquet + a dataset card.

Usage: python dataset_scripts/convert_cmu.py RAW_DIR OUT_DIR [--num-shards N] [--num-proc N] [--limit N] ...
Same as: hf-skeleton convert RAW_DIR OUT_DIR --dataset cmu (the logic lives in hf_skeleton.dataset_tools).
"""

import sys

from hf_skeleton.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:], "--dataset", "cmu"]))
