"""SkeletonLLM at the published dimensions of Qwen2.5-VL-7B-Instruct, InternVL3-8B-hf and LLaVA-1.5-7B-hf:
time and memory of the paper's stage-1 step, and what the full-depth model needs on a GPU.

Each family's VLM is built from ``tests/fixtures/published_configs`` (published width, vocabulary, vision
tower, image processor; depth cut to 1 text layer and 1-2 vision layers; random bfloat16 weights) and
wrapped with ``from_backbone_pretrained``. The step: one real N-UCLA clip, 12 frames rendered at 448 px (one
image per frame), the SFT prompt + answer, forward + backward with the VLM frozen and DrAction trained,
logits only at the label positions. Reported per family: visual tokens per clip, sequence length, the median
seconds of ``--runs`` steps (after one warm-up), the peak resident memory of the process during them, and
the activations autograd keeps for the backward pass, by layer (parameters excluded).

Full-depth estimate, for a user planning a GPU run of the same step (batch 1, no gradient checkpointing):
``parameters x 2 bytes`` (bfloat16, the full published model) ``+ other + text layers x per text layer +
vision layers x per vision layer`` of the saved activations; with gradient checkpointing, each layer keeps
only its input and one layer's activations are alive at a time. ``--depth-check`` (default) also builds the
2-text-layer model and reports how the measured growth compares with the per-layer figure.

    python benchmarks/published_dimensions.py                      # all three, median of 3
    python benchmarks/published_dimensions.py --families llava --runs 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

import hf_skeleton as hs
from hf_skeleton.models.lm_head import label_positions
from hf_skeleton.testing_published import PeakRSS, load_published_spec, published_parameter_count, published_vlm_folder
from hf_skeleton.training.collators import SkeletonSFTCollator

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "tests" / "fixtures" / "published_configs"
QUESTION = "What action is the person doing? Answer with the action name."
# family -> (fixture, vision layers kept, from_pretrained options): as tests/models/skeleton_llm/test_published_dimensions.py
FAMILIES = {
    "qwen2_5_vl": ("qwen2_5_vl_7b_instruct", 2, {"fusion_config": {"patch_embeddings": True}}),
    "internvl": ("internvl3_8b_hf", 1, {}),
    "llava": ("llava_1_5_7b_hf", 1, {}),
}
GB = 1e9


class SavedActivations:
    """Bytes autograd saves for the backward pass, attributed to the text layer or vision block that saved
    them ("other": embeddings, renderer, adapter, projector, head, loss); parameter storages excluded."""

    def __init__(self, model, groups: dict[str, list[torch.nn.Module]]):
        self.model, self.groups = model, groups
        self.bytes: dict[str, list[int]] = {name: [0] * len(mods) for name, mods in groups.items()}
        self.bytes["other"] = [0]
        self.inputs: dict[str, list[int]] = {name: [0] * len(mods) for name, mods in groups.items()}
        self._stack: list[tuple[str, int]] = []

    def __enter__(self):
        self._params = {p.untyped_storage().data_ptr() for p in self.model.parameters()}
        self._seen: set[int] = set()
        self._handles = []
        for name, modules in self.groups.items():
            for i, module in enumerate(modules):
                self._handles.append(module.register_forward_pre_hook(self._enter_hook((name, i)), with_kwargs=True))
                self._handles.append(module.register_forward_hook(self._exit_hook))
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def _enter_hook(self, key: tuple[str, int]):
        def hook(module, args, kwargs):
            self._stack.append(key)
            hidden = args[0] if args and torch.is_tensor(args[0]) else kwargs.get("hidden_states")
            if torch.is_tensor(hidden):  # what gradient checkpointing keeps of this layer
                self.inputs[key[0]][key[1]] = hidden.numel() * hidden.element_size()
        return hook

    def _exit_hook(self, module, args, output):
        self._stack.pop()

    def _pack(self, tensor):
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        if ptr and ptr not in self._params and ptr not in self._seen:
            self._seen.add(ptr)
            name, i = self._stack[-1] if self._stack else ("other", 0)
            self.bytes[name][i] += storage.nbytes()
        return tensor

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)
        for handle in self._handles:
            handle.remove()

    def total(self) -> int:
        return sum(sum(v) for v in self.bytes.values())


def _blocks(tower: torch.nn.Module) -> list[torch.nn.Module]:
    for name, module in tower.named_modules():  # the first stack of layers: blocks, layer or layers
        if isinstance(module, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in ("blocks", "layer", "layers"):
            return list(module)
    raise ValueError(f"no layer stack in {type(tower).__name__}")


def layer_groups(model) -> dict[str, list[torch.nn.Module]]:
    vlm = model.model.vlm
    tower = vlm.visual if hasattr(vlm, "visual") else vlm.vision_tower  # Qwen2-VL family / InternVL, LLaVA
    return {"text": list(vlm.language_model.layers), "vision": _blocks(tower)}


def build(family: str, folder: Path, text_layers: int, clip):
    name, vision_layers, load_kwargs = FAMILIES[family]
    start = time.perf_counter()
    published_vlm_folder(SPECS / f"{name}.json", folder, text_layers=text_layers, vision_layers=vision_layers)
    build_s = time.perf_counter() - start
    torch.manual_seed(0)
    draction = hs.DrActionConfig(format="kinect_v1", num_frames=12, image_size=448, backend="torch")
    model = hs.SkeletonLLMForConditionalGeneration.from_backbone_pretrained(str(folder), draction_config=draction,
                                                                            **load_kwargs)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.add_special_tokens({"additional_special_tokens": [model.config.skeleton_token]})
    processor = hs.SkeletonLLMProcessor.from_model_config(model.config, tokenizer)
    model.set_trainable(["renderer"])
    model.train()
    batch = SkeletonSFTCollator(processor)([{"skeleton": clip, "prompt": QUESTION, "answer": clip.meta["label_name"]}])
    return model, batch, build_s


def step(model, batch) -> None:
    out = model(**batch, logits_to_keep=label_positions(batch["labels"]))
    out.loss.backward()
    model.zero_grad(set_to_none=True)


def saved_activations(model, batch) -> SavedActivations:
    with SavedActivations(model, layer_groups(model)) as saved:
        out = model(**batch, logits_to_keep=label_positions(batch["labels"]))
    out.loss.backward()
    model.zero_grad(set_to_none=True)
    return saved


def bench(family: str, clip, runs: int, depth_check: bool, workdir: Path) -> dict:
    name, vision_layers, _ = FAMILIES[family]
    spec = load_published_spec(SPECS / f"{name}.json")
    folder = workdir / family
    model, batch, build_s = build(family, folder, 1, clip)
    times = []
    with PeakRSS() as memory:
        step(model, batch)  # warm-up
        for _ in range(runs):
            start = time.perf_counter()
            step(model, batch)
            times.append(time.perf_counter() - start)
    saved = saved_activations(model, batch)
    config = model.config
    text_full = spec_text_layers(spec)
    vision_full = spec_vision_layers(spec)
    per_text = statistics.mean(saved.bytes["text"])
    per_vision = statistics.mean(saved.bytes["vision"])
    full_params = published_parameter_count(spec)
    row = {
        "family": family, "checkpoint": spec["_source"].split(" ")[0],
        "visual_tokens_per_clip": config.num_visual_tokens(), "sequence_length": int(batch["input_ids"].shape[1]),
        "build_s": round(build_s, 1), "step_s_median": round(statistics.median(times), 2),
        "step_s_runs": [round(t, 2) for t in times], "peak_rss_gb": round(memory.peak / GB, 2),
        "parameters_cut": sum(p.numel() for p in model.parameters()),
        "saved_gb": {"other": round(saved.bytes["other"][0] / GB, 3),
                     "per_text_layer": round(per_text / GB, 3), "per_vision_layer": round(per_vision / GB, 3),
                     "vision_layers": [round(b / GB, 3) for b in saved.bytes["vision"]]},
        "full_depth": {"parameters": full_params, "text_layers": text_full, "vision_layers": vision_full,
                       "weights_bf16_gb": round(2 * full_params / GB, 1),
                       "activations_gb": round((saved.bytes["other"][0] + text_full * per_text
                                                + vision_full * per_vision) / GB, 1)},
    }
    row["full_depth"]["total_gb"] = round(row["full_depth"]["weights_bf16_gb"] + row["full_depth"]["activations_gb"], 1)
    # gradient checkpointing keeps each layer's input and recomputes one layer at a time in the backward pass
    in_text, in_vision = statistics.mean(saved.inputs["text"]), statistics.mean(saved.inputs["vision"])
    checkpointed = (saved.bytes["other"][0] + text_full * in_text + vision_full * in_vision + max(per_text, per_vision))
    row["full_depth"]["activations_checkpointed_gb"] = round(checkpointed / GB, 1)
    row["full_depth"]["total_checkpointed_gb"] = round(row["full_depth"]["weights_bf16_gb"] + checkpointed / GB, 1)
    del model, batch
    shutil.rmtree(folder, ignore_errors=True)
    if depth_check:  # one more text layer: does the measured growth match the per-layer figure?
        model, batch, _ = build(family, folder, 2, clip)
        two = saved_activations(model, batch)
        row["depth_check"] = {"saved_growth_gb": round((two.total() - saved.total()) / GB, 3),
                              "per_text_layer_gb": round(per_text / GB, 3)}
        del model, batch
        shutil.rmtree(folder, ignore_errors=True)
    return row


def spec_text_layers(spec) -> int:
    config = spec["config"]
    return int((config.get("text_config") or config)["num_hidden_layers"])


def spec_vision_layers(spec) -> int:
    vision = spec["config"]["vision_config"]
    return int(vision.get("depth") or vision["num_hidden_layers"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", choices=list(FAMILIES), default=list(FAMILIES))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-depth-check", dest="depth_check", action="store_false")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="published_dimensions_") as tmp:
        if len(args.families) == 1:
            clip = hs.load_skeleton(args.data / "nw_ucla" / "all_sqe" / "a01_s01_e00_v01.json")
            rows.append(bench(args.families[0], clip, args.runs, args.depth_check, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
        else:  # one process per family: each peak is its own, not the high-water mark of the ones before
            for family in args.families:
                out = Path(tmp) / f"{family}.json"
                command = [sys.executable, __file__, "--families", family, "--runs", str(args.runs), "--threads",
                           str(args.threads), "--data", str(args.data), "--json", str(out)]
                subprocess.run(command + ([] if args.depth_check else ["--no-depth-check"]), check=True)
                rows += json.loads(out.read_text())
    print(f"\n{'family':<11} {'visual tok':>10} {'seq':>6} {'step s':>7} {'peak RSS':>9} {'act/text layer':>15} "
          f"{'act/vision layer':>17} | full depth: {'weights':>8} {'activations':>12} {'total':>7} {'ckpt total':>10}")
    for r in rows:
        s, f = r["saved_gb"], r["full_depth"]
        print(f"{r['family']:<11} {r['visual_tokens_per_clip']:>10} {r['sequence_length']:>6} {r['step_s_median']:>7.1f} "
              f"{r['peak_rss_gb']:>7.2f}GB {s['per_text_layer']:>13.2f}GB {s['per_vision_layer']:>15.2f}GB | "
              f"{'':>12}{f['weights_bf16_gb']:>6.1f}GB {f['activations_gb']:>10.1f}GB {f['total_gb']:>5.1f}GB "
              f"{f['total_checkpointed_gb']:>8.1f}GB")
    print(f"\n{torch.get_num_threads()} threads, median of {args.runs} runs after a warm-up; full depth = parameters x 2 "
          "bytes (bfloat16) + saved activations scaled to the published depth (batch 1, no gradient checkpointing); "
          "ckpt: with gradient checkpointing (each layer's input kept, one layer recomputed at a time).")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
