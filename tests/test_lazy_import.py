"""`import hf_skeleton` is cheap (no torch), and registration is complete whenever transformers' Auto
classes or pipelines are used, in whichever order a user imports things. Each case runs in a fresh
interpreter, since registration is per process."""

import subprocess
import sys
import textwrap

import pytest

import hf_skeleton as hs


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=300, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_import_loads_neither_torch_nor_transformers():
    out = _run("""
        import sys
        import hf_skeleton as hs
        print(sorted(m for m in ("torch", "transformers", "numpy", "scipy") if m in sys.modules))
        print(hs.__version__, "SkeletonSequence" in dir(hs), "torch" in sys.modules)
        hs.load_skeleton  # the data layer needs numpy, never torch
        print("torch" in sys.modules)
    """)
    assert out.split("\n")[:3] == ["[]", f"{hs.__version__} True False", "False"]


@pytest.mark.parametrize("first", ["hf_skeleton", "transformers"])
def test_auto_classes_know_every_model_type_after_import(first, tmp_path):
    order = ("import hf_skeleton as hs\nfrom transformers import AutoConfig, AutoModel, AutoModelForImageTextToText"
             if first == "hf_skeleton" else
             "from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText\nimport hf_skeleton as hs")
    out = _run(order + f"""
import hf_skeleton as hs
for t in ("draction", "vgmt", "skeleton_llm", "llamo", "superman"):
    print(t, type(AutoConfig.for_model(t)).__module__.startswith("hf_skeleton."))
model = AutoModelForImageTextToText.from_pretrained(hs.embedded_model_path("llamo-nucla"))
print(type(model).__name__)
hs.DrActionModel(hs.DrActionConfig(format="kinect_v1", image_size=32, num_frames=2)).save_pretrained({str(tmp_path)!r})
print(type(AutoModel.from_pretrained({str(tmp_path)!r})).__name__)
""")
    lines = out.strip().splitlines()
    assert lines[:5] == [f"{t} True" for t in ("draction", "vgmt", "skeleton_llm", "llamo", "superman")]
    assert lines[5:] == ["LlamoForConditionalGeneration", "DrActionModel"]


def test_pipeline_and_processor_after_a_bare_import():
    out = _run("""
        import hf_skeleton
        from transformers import AutoProcessor, pipeline
        print(pipeline("skeleton-understanding").model.config.model_type)
        print(type(AutoProcessor.from_pretrained(hf_skeleton.embedded_model_path("llamo-nucla"))).__name__)
    """)
    assert out.strip().splitlines()[-2:] == ["llamo", "LlamoProcessor"]


def test_a_model_module_imported_directly_registers_everything():
    out = _run("""
        from hf_skeleton.models.draction.modeling_draction import DrActionModel
        from transformers import AutoConfig, AutoModelForImageTextToText
        print(AutoModelForImageTextToText._model_mapping[type(AutoConfig.for_model("llamo"))].__name__)
    """)
    assert out.strip().splitlines()[-1] == "LlamoForConditionalGeneration"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        hs.no_such_name  # noqa: B018
    assert hs.skeletons.SkeletonSequence is hs.SkeletonSequence


@pytest.mark.parametrize("statement", ["from transformers import Qwen2ForCausalLM", "from trl import SFTTrainer",
                                       "from peft import get_peft_model"])
def test_importing_transformers_classes_after_the_package_works(statement):
    # registration must wait for transformers.modeling_utils (PreTrainedModel) to finish loading, even
    # though modeling_auto finishes inside it
    out = _run(f"""
        import hf_skeleton
        from hf_skeleton import _registration
        {statement}
        print(sorted(step.__name__ for step in _registration._done), _registration._pending)
    """)
    done, pending = out.strip().splitlines()[-1].rsplit(" ", 1)
    assert pending == "[]" and {"'_register_configs'", "'_register_models'"} <= set(done.strip("[]").split(", "))
