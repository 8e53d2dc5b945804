"""Where a VGMT's reconstruction error comes from, on held-out CMU trials (issue 18's tokenizer study).

The clips are the recipe's (``hf_skeleton.training.vgmt_cmu.load_cmu``: the 43-joint BVH hierarchy, 30 fps,
16-frame windows, every 5th trial held out). For each saved VGMT folder it prints one JSON line with:

- ``vq_mm``: the tokenizer's error (encode, quantise, decode, map back to the raw joints), MPJPE in mm;
- ``autoencoder_mm``: the same without the codebook (the decoder reads the encoder's continuous output), so
  ``vq_mm - autoencoder_mm`` is what quantisation costs and ``autoencoder_mm`` what encoder + decoder cost;
- ``normalisation_roundtrip_mm``: box normalisation and back with no model (float error only);
- ``normalised_error`` and the error by quartile of the clips' box scale (half the largest side, mm): the
  same normalised error costs more millimetres in a larger box, which is what the per-clip box normalisation
  contributes;
- ``per_joint_mm``: the worst joints, and the mean over finger/thumb/eye joints vs the rest;
- ``codebook``: active codes, perplexity (``hf_skeleton.evaluation.codebook_health``).

    OMP_NUM_THREADS=1 python benchmarks/vgmt_tokenizer_study.py src/hf_skeleton/embedded/vgmt-cmu runs/vgmt_*/model
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import torch

from hf_skeleton.evaluation import codebook_health, mm
from hf_skeleton.models.vgmt import VGMTModel
from hf_skeleton.models.vgmt.modeling_vgmt import _pad_time
from hf_skeleton.skeletons.box import box_denormalize, box_normalize
from hf_skeleton.training.vgmt_cmu import _data_dir, load_cmu

SMALL_JOINTS = re.compile(r"thumb|index|mid|ring|pinky|finger|eye|toe|site", re.IGNORECASE)


@torch.no_grad()
def continuous_reconstruction(model: VGMTModel, x: torch.Tensor) -> torch.Tensor:
    """The skeleton-only VGMT without its codebook: (B, T, J, 3) in [-1, 1] -> decoder(encoder(x))."""
    T = x.shape[1]
    r = model.config.temporal_downsample
    xp = _pad_time(x, -(-T // r) * r)
    z = model.skeleton_encoder(xp.permute(0, 3, 1, 2))  # (B, D, T', J)
    return model.decoder(z).permute(0, 2, 3, 1)[:, :T]


@torch.no_grad()
def study(folder: str, clips: np.ndarray, names: list[str], units: str, batch: int = 64) -> dict:
    model = VGMTModel.from_pretrained(folder).eval()
    if model.config.use_vision:
        raise SystemExit(f"{folder}: a fused VGMT; this study reads skeleton-only models")
    raw = torch.from_numpy(clips)
    x, centre, scale = box_normalize(raw)
    vq, ae, codes = [], [], []
    for i in range(0, len(x), batch):
        out = model(x[i:i + batch], return_loss=False)
        vq.append(out.reconstruction)
        ae.append(continuous_reconstruction(model, x[i:i + batch]))
        codes.append(out.codes)
    vq_n, ae_n = torch.cat(vq), torch.cat(ae)
    to_mm = mm(1.0, units)
    err_vq = (box_denormalize(vq_n, centre, scale) - raw).norm(dim=-1).numpy() * to_mm  # (N, T, J)
    err_ae = (box_denormalize(ae_n, centre, scale) - raw).norm(dim=-1).numpy() * to_mm
    roundtrip = (box_denormalize(x, centre, scale) - raw).norm(dim=-1).mean().item() * to_mm
    per_clip = err_vq.mean((1, 2))
    per_clip_normalised = (vq_n - x).norm(dim=-1).mean((1, 2)).numpy()
    box_mm = scale.flatten().numpy() * to_mm
    q = np.quantile(box_mm, [0.25, 0.5, 0.75])
    bins = np.digitize(box_mm, q)
    per_joint = err_vq.mean((0, 1))
    small = np.array([bool(SMALL_JOINTS.search(n)) for n in names])
    K = model.config.num_codes
    health = codebook_health(torch.cat(codes).numpy(), K, model.codebook.lookup(torch.arange(K)).numpy()).to_dict()
    health.pop("cosine_histogram")
    worst = np.argsort(per_joint)[::-1][:8]
    recipe = Path(folder).parent / "results.json"  # a `hf-skeleton train vgmt` output folder
    trained = json.loads(recipe.read_text())["train"] if recipe.is_file() else {}
    return {
        "model": folder, "train_seconds": trained.get("train_seconds"), "num_codes": K, "code_dim": model.config.code_dim, "channels": model.config.channels,
        "parameters": sum(p.numel() for p in model.parameters()), "clips": len(clips),
        "vq_mm": round(float(err_vq.mean()), 2), "autoencoder_mm": round(float(err_ae.mean()), 2),
        "quantisation_share": round(float(1 - err_ae.mean() / err_vq.mean()), 3),
        "normalisation_roundtrip_mm": float(f"{roundtrip:.3g}"),
        "normalised_error": float(f"{(vq_n - x).norm(dim=-1).mean().item():.4g}"),
        "box_scale_mm_quartiles": [round(float(v)) for v in q],
        "vq_mm_by_box_quartile": [round(float(per_clip[bins == b].mean()), 1) for b in range(4)],
        "normalised_error_by_box_quartile": [round(float(per_clip_normalised[bins == b].mean()), 4) for b in range(4)],
        "per_joint_mm": {names[j]: round(float(per_joint[j]), 1) for j in worst},
        "small_joints_mm": round(float(per_joint[small].mean()), 1) if small.any() else None,
        "other_joints_mm": round(float(per_joint[~small].mean()), 1),
        "small_joints": int(small.sum()),
        "codebook": {k: health[k] for k in ("active", "perplexity") if k in health},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="saved skeleton-only VGMT folders trained on the 43-joint CMU hierarchy")
    p.add_argument("--data", default=None, help="folder holding cmu_mocap_bvh/ (default: ../shared/data)")
    args = p.parse_args()
    torch.set_num_threads(1)
    _train, test, fmt, units, _split = load_cmu(_data_dir(args), 30.0, 16, 8)
    for folder in args.models:
        print(json.dumps(study(folder, test.astype(np.float32), list(fmt.joints), units)), flush=True)


if __name__ == "__main__":
    main()
