"""The library logs through ``logging.getLogger(__name__)`` under "hf_skeleton", silent unless the
application configures logging (issue 20); the CLI shows warnings, and INFO with ``-v``."""

from __future__ import annotations

import logging
import subprocess
import sys

import hf_skeleton as hs


def test_library_logger_is_quiet_by_default():
    root = logging.getLogger("hf_skeleton")
    assert any(isinstance(h, logging.NullHandler) for h in root.handlers)
    code = ("import logging, hf_skeleton\n"
            "logging.getLogger('hf_skeleton.dataset_tools.sources').warning('should not print')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "should not print" not in out.stderr + out.stdout


def test_backbone_build_and_skipped_files_are_logged(tmp_path, caplog):
    from hf_skeleton.dataset_tools.sources import _Skips

    with caplog.at_level(logging.INFO, logger="hf_skeleton"):
        hs.backbone_path("efficientnet-lite0", cache_dir=tmp_path)
        skips = _Skips(skip_bad=True)
        bad = tmp_path / "broken.json"
        bad.write_text("{")
        assert skips.check(bad, lambda: hs.load_skeleton(bad)) is None
    records = {(r.name, r.levelno) for r in caplog.records}
    assert ("hf_skeleton.backbones", logging.INFO) in records
    assert ("hf_skeleton.dataset_tools.sources", logging.WARNING) in records
    assert any("broken.json" in r.getMessage() for r in caplog.records)


def test_recipes_log_through_the_logger_unless_given_print(caplog):
    import inspect

    from hf_skeleton.training import llamo_recipe, skeleton_llm_recipe, superman_recipe, vgmt_cmu

    for module in (llamo_recipe, skeleton_llm_recipe, superman_recipe, vgmt_cmu):
        assert inspect.signature(module.run).parameters["log"].default is None, module.__name__


def test_cli_verbose_flag(capsys):
    from hf_skeleton.cli import build_parser

    assert build_parser().parse_args(["-v", "info", "x.json"]).verbose
    assert not build_parser().parse_args(["info", "x.json"]).verbose
