"""The web app (``hf-skeleton app``; ``app.py`` at the repository root is the Hugging Face Space entry).

Like the CLI it is a front end at the top of the house: it reuses :mod:`hf_skeleton.demo` (as the CLI does), and
nothing in the library imports it.

Upload a skeleton file (anything :func:`~hf_skeleton.load_skeleton` reads, a video included) or pick a
bundled sample, and see the stick-figure animation, the DrAction frames a SkeletonLLM reads, the top-5
N-UCLA actions with their scores and a generated description from the embedded default model, and a
predicted continuation when a Superman (``skeleton-generation``) model is available.

The work is :func:`analyze`, which runs the demo (:func:`hf_skeleton.demo.run_demo`) and the continuation
and needs no web framework; :func:`build_app` wraps it in a Gradio page, which shows the rest first and the
continuation (seconds of decoding on a CPU) when it is ready. Gradio is the optional ``app``
extra (``pip install 'hf_skeleton[app]'``) and is imported only by :func:`build_app` / :func:`launch`.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .demo import generation_model_folder, generation_pipeline
from .errors import HFSkeletonError

logger = logging.getLogger(__name__)

INSTALL = "pip install 'hf_skeleton[app]'"
TOP_K = 5
CONTINUATION_FRAMES = 8  # frames the generation model predicts (the CMU recipe's horizon, as in the demo)
HISTORY_FRAMES = 32  # at most this many observed frames are given to it
_KEEP_RUNS = 8  # output folders kept per app (Gradio has copied older ones into its cache)


class GradioNotInstalledError(HFSkeletonError, ImportError):
    """The app needs Gradio (the ``app`` extra), which could not be imported.

    Attributes:
        install: the pip command that installs it.
    """

    def __init__(self, detail: str = "is not installed"):
        self.install = INSTALL
        super().__init__(f"hf-skeleton's app needs gradio, which {detail}; install it with: {INSTALL}")


def _import_gradio():
    try:
        import gradio
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] != "gradio":  # gradio is there, one of its dependencies is not
            raise GradioNotInstalledError(f"cannot be imported ({err})") from err
        raise GradioNotInstalledError() from err
    except ImportError as err:
        raise GradioNotInstalledError(f"cannot be imported ({err})") from err
    return gradio


# ---------------------------------------------------------------------- samples
SYNTHETIC_ACTIONS = ("walk", "wave", "squat")
# N-UCLA clips offered when the real data is there: walk around, pick up with one hand, throw
REAL_SAMPLES = ("a04_s01_e00_v01.json", "a01_s01_e00_v01.json", "a09_s01_e00_v01.json")


def bundled_samples() -> dict[str, Callable[[], Any]]:
    """Sample name -> a function returning the clip (a path or a sequence): real N-UCLA clips when
    ``../shared/data`` (or ``$HF_SKELETON_DATA``) is present, then generated clips, which are always there."""
    from .data import action_labels
    from .data.discovery import find_demo_clip
    from .skeletons.synthetic import synthetic_clip

    samples: dict[str, Callable[[], Any]] = {}
    demo = find_demo_clip()
    if demo is not None:
        names = action_labels("nucla")
        for path in dict.fromkeys([demo, *(demo.parent / name for name in REAL_SAMPLES)]):
            if path.is_file():
                action = names.get(int(path.stem[1:3])) if path.stem[1:3].isdigit() else None
                samples[f"N-UCLA {path.stem}" + (f" ({action})" if action else "")] = lambda path=path: path
    for action in SYNTHETIC_ACTIONS:
        samples[f"synthetic {action} (generated)"] = lambda action=action: synthetic_clip(action, 60, seed=0)
    return samples


# ---------------------------------------------------------------------- the work
def predict_continuation(seq, out_dir: str | Path, *, model: str | None = None,
                         num_frames: int = CONTINUATION_FRAMES, history_frames: int = HISTORY_FRAMES,
                         pipelines: dict[str, Any] | None = None) -> tuple[Path | None, str]:
    """The next ``num_frames`` frames of ``seq`` predicted by a Superman model (``model``: a folder or an
    embedded name; default: the embedded ``skeleton-generation`` model), drawn after the last
    ``history_frames`` observed ones into ``out_dir/continuation.gif``.

    Returns ``(gif, note)``; ``gif`` is None, and ``note`` says why, when no generation model is
    available or this clip cannot be continued (a person unobserved in a history frame, ...).
    ``pipelines`` caches the loaded pipeline by folder between calls.
    """
    import numpy as np

    from .embedded import list_embedded_models
    from .viz import save_animation

    folder = generation_model_folder(model)
    if folder is None:
        return None, ("No continuation: no motion-generation (Superman) model is available (embedded models: "
                      f"{', '.join(list_embedded_models()) or 'none'}). Train one with `hf-skeleton train "
                      "superman --out runs/superman` and start the app with `hf-skeleton app "
                      "--generation-model runs/superman/unified`.")
    history = seq.frame_range(-min(int(history_frames), seq.num_frames))
    try:
        future = generation_pipeline(folder, pipelines)(history, task="predict", num_frames=int(num_frames))
    except HFSkeletonError as err:
        return None, f"No continuation for this clip: {err}"
    joined = history.copy(positions=np.concatenate([history.positions, future.positions]),
                          mask=np.concatenate([history.mask, future.mask]), orientations=None)
    gif = save_animation(joined, Path(out_dir) / "continuation.gif",
                         title=f"{history.num_frames} observed + {future.num_frames} predicted frames")
    return gif, (f"Predicted by {Path(folder).name}: the last {history.num_frames} observed frames, then "
                 f"{future.num_frames} predicted ones.")


def analyze(source, out_dir: str | Path, *, generation_model: str | None = None, top_k: int = TOP_K,
            num_frames: int = 32, continuation_frames: int = CONTINUATION_FRAMES,
            samples: dict[str, Callable[[], Any]] | None = None,
            pipelines: dict[str, Any] | None = None, continuation: bool = True) -> dict[str, Any]:
    """Everything the app shows for one clip: ``source`` is a file path, a sample's name (a key of
    ``samples``, default :func:`bundled_samples`) or a :class:`~hf_skeleton.SkeletonSequence`.

    Runs :func:`hf_skeleton.demo.run_demo` (animation, frame grid, DrAction frames, top-``top_k`` N-UCLA
    actions and a description from the embedded default model) into ``out_dir``, then
    :func:`predict_continuation` unless ``continuation`` is False (the page predicts it as a second step,
    after it has shown the rest). Returns run_demo's dict plus ``"sequence"`` (the clip as read),
    ``"continuation"`` (a GIF path or None), ``"continuation_note"`` and ``"log"`` (the demo's printed lines).
    """
    from .demo import run_demo
    from .skeletons.io import load_skeleton

    kind = None
    if samples is None:
        samples = bundled_samples() if isinstance(source, str) else {}
    if isinstance(source, str) and source in samples:
        source, kind = samples[source](), "sample"
    if isinstance(source, (str, Path)):  # read once: a video is estimated once, for both steps
        kind = "real" if kind else "file"
        source = load_skeleton(source)  # a typed error naming the file when it is not a skeleton file
    lines: list[str] = []
    result = run_demo(source, out_dir, num_frames=num_frames, top_k=top_k, log=lines.append, predict=False)
    if kind in ("real", "file"):
        result["kind"] = kind
    gif, note = None, ""
    if continuation:
        gif, note = predict_continuation(source, out_dir, model=generation_model, num_frames=continuation_frames,
                                         pipelines=pipelines)
    result.update(sequence=source, continuation=str(gif) if gif else None, continuation_note=note,
                  log="\n".join(lines))
    return result


def summary_markdown(result: dict[str, Any]) -> str:
    """The clip and model summary the app prints beside the outputs."""
    info = result["info"]
    kind = {"file": "uploaded file", "real": "real recording", "synthetic": "SYNTHETIC generated clip",
            "sequence": "clip"}.get(result["kind"], result["kind"])
    rows = [f"**{Path(str(info['source'])).name or info['source']}** ({kind})", "",
            f"- {info['format']}: {info['persons']} person(s), {info['joints']} joints",
            f"- {info['frames']} frames at {info['fps']:g} fps ({info['duration_s']:g} s)"]
    if info.get("label_name"):
        rows.append(f"- recorded label: **{info['label_name']}**")
    if info.get("text"):
        rows.append(f"- text: {info['text']}")
    model = Path(result["model"]).name
    rows += ["", f"Model: `{model}` (embedded, offline), {result['latency_s']:.2f} s per clip."]
    return "\n".join(rows)


def gradio_outputs(result: dict[str, Any]) -> tuple:
    """:func:`analyze`'s result as the page's outputs, in order: animation GIF, DrAction frames PNG,
    ``{action: score}`` of the top actions, description, summary markdown, continuation GIF (or None) and
    its note."""
    files = result["files"]
    scores = {row["label"]: float(row["score"]) for row in result["top_actions"]}
    return (files["original_animation"], files["draction_frames"], scores, result["description"],
            summary_markdown(result), result["continuation"], result["continuation_note"])


# ---------------------------------------------------------------------- the page
def build_app(*, generation_model: str | None = None, samples: dict[str, Callable[[], Any]] | None = None):
    """The Gradio page (a ``gr.Blocks``; ``.launch()`` serves it). Raises
    :class:`GradioNotInstalledError` without the ``app`` extra."""
    gr = _import_gradio()
    samples = bundled_samples() if samples is None else samples
    root = Path(tempfile.mkdtemp(prefix="hf_skeleton_app_"))
    pipelines: dict[str, Any] = {}
    has_generation = generation_model_folder(generation_model) is not None

    def run(upload, sample):
        """The first step: everything but the continuation, which :func:`continue_clip` adds after."""
        path = upload if isinstance(upload, (str, Path)) else getattr(upload, "name", None)
        if not path and not sample:
            raise gr.Error("Upload a skeleton file or pick a sample.")
        runs = sorted(root.iterdir(), key=lambda p: p.stat().st_mtime)
        for old in runs[:max(0, len(runs) - _KEEP_RUNS + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        out = tempfile.mkdtemp(dir=root)
        try:
            result = analyze(path or sample, out, generation_model=generation_model, samples=samples,
                             pipelines=pipelines, continuation=False)
        except HFSkeletonError as err:
            raise gr.Error(str(err)) from err
        pending = "Predicting the continuation ..." if has_generation else ""
        return (*gradio_outputs(result)[:5], gr.update(value=None), pending, (result["sequence"], out))

    def continue_clip(state):
        """The second step: the predicted continuation (seconds on a CPU) of the clip the first step read."""
        if state is None:
            return gr.update(), ""
        seq, out = state
        gif, note = predict_continuation(seq, out, model=generation_model, pipelines=pipelines)
        return gr.update(value=str(gif) if gif else None, visible=gif is not None), note

    with gr.Blocks(title="hf_skeleton", delete_cache=(3600, 7200)) as demo:
        gr.Markdown("## hf_skeleton: skeletons in the Hugging Face stack\n"
                    "Upload a skeleton file (N-UCLA/OpenPose/COCO `.json`, `.bvh`, `.trc`, `.skeleton`, "
                    "`.npy`, `.npz`) or a video (BlazePose estimates the skeleton), or pick a sample, then "
                    "**Analyse**. An uploaded file is used before the sample.")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Skeleton file or video", file_count="single", elem_id="upload")
                sample = gr.Dropdown(choices=list(samples), value=next(iter(samples), None),
                                     label="... or a sample", elem_id="sample")
                button = gr.Button("Analyse", variant="primary", elem_id="analyse")
                summary = gr.Markdown(elem_id="summary")
            with gr.Column(scale=2):
                with gr.Row():
                    animation = gr.Image(label="Stick figure", type="filepath", elem_id="animation")
                    frames = gr.Image(label="DrAction frames (what a SkeletonLLM reads)", type="filepath",
                                      elem_id="draction")
                with gr.Row():
                    actions = gr.Label(num_top_classes=TOP_K, label="Top-5 actions (N-UCLA)",
                                       elem_id="actions")
                    description = gr.Textbox(label="Description (generated)", lines=3, interactive=False,
                                             elem_id="description")
                continuation = gr.Image(label="Predicted continuation", type="filepath",
                                        elem_id="continuation", visible=has_generation)
                note = gr.Markdown(elem_id="continuation-note")
        clip = gr.State()
        button.click(run, inputs=[upload, sample],
                     outputs=[animation, frames, actions, description, summary, continuation, note, clip]
                     ).success(continue_clip, inputs=[clip], outputs=[continuation, note])
    weakref.finalize(demo, shutil.rmtree, root, True)
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, *, share: bool = False,
           generation_model: str | None = None, **launch_kwargs: Any):
    """Serve :func:`build_app` on ``host:port`` (blocks until interrupted)."""
    demo = build_app(generation_model=generation_model)
    return demo.launch(server_name=host, server_port=port, share=share, **launch_kwargs)
