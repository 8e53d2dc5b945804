"""Cost of checkpoint verification on load: manifest (per-tensor sha256) + NaN/Inf scan.

    python benchmarks/checkpoint_verify.py --repeats 5

For each embedded model and the SmolLM2 backbone folder (copied to a temp folder with its manifest written
there, so the cache is not modified): median seconds of ``verify_weights`` with the manifest, without it
(NaN/Inf scan only), and of writing the manifest. Files are in the page cache after the first run.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
from pathlib import Path

from _timing import median_seconds

import hf_skeleton as hs
from hf_skeleton.modeling_utils import write_checksums, verify_weights


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    folders = {name: Path(hs.embedded_model_path(name)) for name in hs.list_embedded_models()}
    folders["smollm2-135m-instruct"] = Path(hs.backbone_path("smollm2-135m-instruct"))
    print(f"python {platform.python_version()} on {platform.machine()}, median of {args.repeats}\n")
    print("| folder | weights | verify (manifest + NaN) | verify (no manifest) | write manifest |\n|---|---|---|---|---|")
    for name, folder in folders.items():
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / name
            copy.mkdir()
            for f in folder.glob("*.safetensors"):
                shutil.copy(f, copy / f.name)
            size = sum(f.stat().st_size for f in copy.glob("*.safetensors")) / 2**20
            bare = median_seconds(lambda: verify_weights(copy), args.repeats)
            write = median_seconds(lambda: write_checksums(copy), args.repeats)
            full = median_seconds(lambda: verify_weights(copy), args.repeats)
            print(f"| {name} | {size:.1f} MB | {full:.3f} s | {bare:.3f} s | {write:.3f} s |")


if __name__ == "__main__":
    main()
