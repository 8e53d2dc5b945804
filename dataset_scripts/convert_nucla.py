"""Convert N-UCLA Multiview Action3D (CTR-GCN JSON layout: all_sqe/*.json) into sharded parquet + a dataset card.

Usage: python dataset_scripts/convert_nucla.py RAW_DIR OUT_DIR [--num-shards N] [--num-proc N] [--limit N] ...
Same as: hf-skeleton convert RAW_DIR OUT_DIR --dataset nucla (the logic lives in hf_skeleton.dataset_tools).
"""

import sys

from hf_skeleton.cli import main

if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:], "--dataset", "nucla"]))
