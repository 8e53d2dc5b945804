"""Benchmark of DrAction's Gaussian rasterizer (torch tiled backend vs the dense oracle).

Scene: a synthetic Kinect v2 body (25 joints, 24 bones, 2 m tall, 3 m in front of a 60-degree
pinhole camera) with one Gaussian per joint and 10 per bone (K = 265), isotropic scales as
DrAction's released code (joint 0.030 and bone 0.020 times relative bone length, clamped to
[0.010, 0.035] and [0.006, 0.030] m), walking-like arm/leg swing over the frames.

Each configuration runs in its own subprocess so that peak memory is the growth of the process's
maximum resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) over its value after
the inputs are built, i.e. peak extra memory including torch's allocator caches.

    OMP_NUM_THREADS=2 python benchmarks/render.py            # markdown table on stdout
    OMP_NUM_THREADS=2 python benchmarks/render.py --sizes 224 --tile-sizes 16 --dense-sizes   # quick
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

# Kinect v2 joint positions (metres, y up, person facing the camera) of a 2 m tall standing body.
_REST = {
    "pelvis": (0.0, 1.00, 0.0), "spine": (0.0, 1.25, 0.0), "thorax": (0.0, 1.48, 0.0),
    "neck": (0.0, 1.62, 0.0), "head": (0.0, 1.80, 0.0),
    "left_shoulder": (0.20, 1.50, 0.0), "left_elbow": (0.28, 1.22, 0.0), "left_wrist": (0.32, 0.98, 0.02),
    "left_hand": (0.33, 0.90, 0.03), "left_hand_tip": (0.34, 0.80, 0.04), "left_thumb": (0.30, 0.88, 0.07),
    "right_shoulder": (-0.20, 1.50, 0.0), "right_elbow": (-0.28, 1.22, 0.0),
    "right_wrist": (-0.32, 0.98, 0.02), "right_hand": (-0.33, 0.90, 0.03),
    "right_hand_tip": (-0.34, 0.80, 0.04), "right_thumb": (-0.30, 0.88, 0.07),
    "left_hip": (0.11, 0.96, 0.0), "left_knee": (0.12, 0.52, 0.02), "left_ankle": (0.12, 0.08, 0.0),
    "left_foot": (0.13, 0.02, 0.12),
    "right_hip": (-0.11, 0.96, 0.0), "right_knee": (-0.12, 0.52, 0.02), "right_ankle": (-0.12, 0.08, 0.0),
    "right_foot": (-0.13, 0.02, 0.12),
}


def body_scene(num_frames: int, size: int, dtype=None, seed: int = 0):
    """Inputs of ``rasterize_gaussians`` for ``num_frames`` frames of one body at ``size`` x ``size``."""
    import torch

    import hf_skeleton as hs

    dtype = dtype or torch.float32
    fmt = hs.get_format("kinect_v2")
    rest = torch.tensor([_REST[name] for name in fmt.joints], dtype=torch.float64)
    parents = list(fmt.parents)
    bones = [(p, j) for j, p in enumerate(parents) if p >= 0]
    g = torch.Generator().manual_seed(seed)
    frames = []
    for t in range(num_frames):
        phase = 2 * math.pi * t / max(num_frames, 1)
        pose = rest.clone()
        for side, sign in (("left", 1.0), ("right", -1.0)):
            swing = 0.35 * sign * math.sin(phase)
            for prefix, pivot in ((f"{side}_", f"{side}_shoulder"), (f"{side}_", f"{side}_hip")):
                root = fmt.joints.index(pivot)
                limb = [j for j in range(len(parents)) if _descends(j, root, parents) and j != root]
                ang = swing if "shoulder" in pivot else -swing
                c, s = math.cos(ang), math.sin(ang)
                rel = pose[limb] - pose[root]
                pose[limb, 1] = pose[root, 1] + c * rel[:, 1] - s * rel[:, 2]
                pose[limb, 2] = pose[root, 2] + s * rel[:, 1] + c * rel[:, 2]
        frames.append(pose)
    joints = torch.stack(frames)  # (T, J, 3), y up
    # camera: OpenCV axes (y down), body centre 3 m ahead
    cam = torch.stack([joints[..., 0], 1.0 - joints[..., 1], 3.0 - joints[..., 2]], dim=-1)
    lengths = torch.stack([(rest[j] - rest[p]).norm() for p, j in bones])
    longest = lengths.max()
    incident = [[k for k, (p, j) in enumerate(bones) if j == i or p == i] for i in range(len(parents))]
    joint_scale = torch.stack([
        (0.030 * lengths[inc].median() / longest).clamp(0.010, 0.035) for inc in incident
    ])
    bone_scale = (0.020 * lengths / longest).clamp(0.006, 0.030)
    fracs = torch.arange(1, 11, dtype=torch.float64) / 11.0
    pa = cam[:, [p for p, _ in bones]]
    ch = cam[:, [j for _, j in bones]]
    samples = pa[:, :, None] + fracs[None, None, :, None] * (ch - pa)[:, :, None]  # (T, E, 10, 3)
    means = torch.cat([cam, samples.reshape(num_frames, -1, 3)], dim=1)
    scales = torch.cat([joint_scale, bone_scale.repeat_interleave(10)])
    n_gauss = means.shape[1]
    covs = (scales**2)[None, :, None, None] * torch.eye(3, dtype=torch.float64)
    covs = covs.expand(num_frames, -1, -1, -1).contiguous()
    colors = torch.rand(num_frames, n_gauss, 3, generator=g, dtype=torch.float64)
    opacities = 0.8 + 0.15 * torch.rand(num_frames, n_gauss, generator=g, dtype=torch.float64)
    view = torch.eye(4, dtype=torch.float64).expand(num_frames, 4, 4).contiguous()
    focal = 0.5 * size / math.tan(math.radians(30.0))
    k = torch.tensor([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1]], dtype=torch.float64)
    k = k.expand(num_frames, 3, 3).contiguous()
    return [x.to(dtype) for x in (means, covs, colors, opacities, view, k)]


def _descends(j: int, root: int, parents) -> bool:
    while j >= 0:
        if j == root:
            return True
        j = parents[j]
    return False


def _worker(args) -> dict:
    import torch

    from hf_skeleton.rendering.raster_oracles import rasterize_dense
    from hf_skeleton.rendering.rasterizer import rasterize_gaussians

    torch.manual_seed(0)
    inputs = body_scene(args.frames, args.size)
    backward = args.mode == "fwd+bwd"
    if backward:
        inputs = [x.requires_grad_() if i < 4 else x for i, x in enumerate(inputs)]
    if args.backend == "dense":
        # the oracle, called directly to bound its memory (pixel chunks, checkpointed for backward)
        def render():
            return rasterize_dense(*inputs, args.size, args.size, pixel_chunk=1024)
    else:
        def render():
            return rasterize_gaussians(*inputs, args.size, args.size, backend=args.backend,
                                       tile_size=args.tile_size)
    weights = torch.rand(args.frames, args.size, args.size, 3)

    def step():
        if backward:
            out = render()
            loss = (out.rgb * weights).sum() + out.alpha.sum()
            loss.backward()
            for x in inputs[:4]:
                x.grad = None
        else:
            with torch.no_grad():
                render()

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    for _ in range(args.warmup):
        step()
    times, cpu_times = [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss
    return {
        "backend": args.backend, "size": args.size, "mode": args.mode, "frames": args.frames,
        "first_s": first, "median_s": statistics.median(times), "runs": len(times),
        "cpu_s": statistics.median(cpu_times), "tile": args.tile_size,
        "peak_extra_mb": peak / 1024.0, "threads": torch.get_num_threads(),
    }


def _run_config(backend, size, mode, tile, opts) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--backend", backend, "--size", str(size), "--mode", mode,
           "--frames", str(opts.frames), "--tile-size", str(tile),
           "--repeats", str(opts.repeats if backend != "dense" else opts.dense_repeats),
           "--warmup", str(opts.warmup if backend != "dense" else 0)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _machine() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines()
        model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Model name")), "?")
    except OSError:
        model = platform.processor() or "?"
    return f"{model}, {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f} at start"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 448])
    parser.add_argument("--modes", nargs="+", default=["fwd", "fwd+bwd"])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--tile-sizes", type=int, nargs="+", default=[16, 8])
    parser.add_argument("--dense-sizes", type=int, nargs="*", default=[224],
                        help="sizes at which to also time the dense oracle (slow: seconds per call)")
    parser.add_argument("--dense-modes", nargs="*", default=["fwd"],
                        help="passes for the dense oracle (its fwd+bwd took 100 s and 7.4 GB at 224x224)")
    parser.add_argument("--dense-repeats", type=int, default=1)
    parser.add_argument("--tile-size", type=int, default=16, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="torch", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=224, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="fwd", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    if opts.worker:
        print(json.dumps(_worker(opts)))
        return
    print(f"Machine: {_machine()}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"Scene: K=265 Gaussians (Kinect v2 body), {opts.frames} frames per call; frames/s = frames / median "
          "wall time; CPU ms = median process CPU time per call (all threads)\n")
    print("| backend | tile | size | pass | frames/s | wall ms / call | CPU ms / call | first call ms "
          "| peak extra MB | threads | runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    results = {}
    for size in opts.sizes:
        for mode in opts.modes:
            configs = [("torch", tile) for tile in opts.tile_sizes]
            if size in opts.dense_sizes and mode in opts.dense_modes:
                configs.append(("dense", 0))
            for backend, tile in configs:
                r = _run_config(backend, size, mode, tile or 16, opts)
                results[(backend, tile, size, mode)] = r
                print(f"| {backend} | {tile or '-'} | {size}x{size} | {mode} | {r['frames'] / r['median_s']:.1f} | "
                      f"{1e3 * r['median_s']:.1f} | {1e3 * r['cpu_s']:.1f} | {1e3 * r['first_s']:.1f} | "
                      f"{r['peak_extra_mb']:.0f} | {r['threads']} | {r['runs']} |", flush=True)
    if any(key[0] == "dense" for key in results):
        print("\n| size | pass | tile | dense / torch wall time | dense / torch CPU time |")
        print("|---|---|---|---|---|")
        for (backend, _, size, mode), dense in results.items():
            if backend != "dense":
                continue
            for tile in opts.tile_sizes:
                torch_r = results[("torch", tile, size, mode)]
                print(f"| {size}x{size} | {mode} | {tile} | {dense['median_s'] / torch_r['median_s']:.0f}x | "
                      f"{dense['cpu_s'] / torch_r['cpu_s']:.0f}x |")
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
