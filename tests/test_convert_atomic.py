"""Dataset conversion loses no data (issue #16): every bad clip skipped with --skip-bad, skipped file names
escaped in the card. Real N-UCLA clips."""

import os
import shutil
from pathlib import Path

import datasets
import pytest

from hf_skeleton.dataset_tools import convert_dataset, load_converted, read_card_configs
from hf_skeleton.dataset_tools import sources as sources_module
from hf_skeleton.errors import SkeletonFileError

datasets.disable_progress_bars()
CLIPS = ("a01_s01_e00_v01", "a01_s01_e00_v02", "a01_s01_e00_v03", "a01_s01_e01_v01", "a01_s01_e01_v02",
         "a01_s01_e01_v03")


@pytest.fixture
def raw(nucla_dir, tmp_path):
    """Six real N-UCLA clips (4 train, 2 test) copied into a fresh raw folder."""
    folder = tmp_path / "raw"
    folder.mkdir()
    for name in CLIPS:
        shutil.copy(nucla_dir / f"{name}.json", folder)
    return folder


def _convert(raw, out, **kw):
    return convert_dataset(raw, out, "nucla", max_rows_per_shard=1, progress=False, **kw)


def _ids(out):
    ds = load_converted(out)
    return sorted(i for split in ds.values() for i in split["id"])


def _assert_consistent(out, ids):
    """The card lists exactly the shards on disk, they load every expected row, and nothing else is left."""
    listed = {Path(f) for files in read_card_configs(out).values() for fs in files.values() for f in fs}
    assert listed == set((out / "data").rglob("*.parquet"))
    assert _ids(out) == sorted(ids)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "data"]  # no lock, no temporary folders


def _once(target, exc, at):
    """``target`` wrapped to raise ``exc`` on its ``at``-th call (1-based)."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == at:
            raise exc
        return target(*args, **kwargs)
    return wrapped


# ---------------------------------------------------------------------- finding 3: --skip-bad skips every bad clip
def test_skip_bad_skips_every_per_clip_error(raw, tmp_path, monkeypatch):
    good = raw / "a01_s01_e00_v01.json"
    latin1 = os.fsencode(raw) + b"/a02_s01_e00_v01_caf\xe9.json"  # a file name that is not UTF-8
    shutil.copy(good, latin1)
    (raw / "a02_s01_e00_v02.json").write_text(good.read_text()[:300])  # truncated JSON
    (raw / "a02_s01_e00_v03.json").write_text("")  # empty
    shutil.copy(good, raw / "a02_s01_e01_v01.json")  # unreadable (monkeypatched: tests run as root)
    load = sources_module.load_skeleton

    def unreadable(path, **kw):
        if Path(path).name == "a02_s01_e01_v01.json":
            raise PermissionError(13, "Permission denied", str(path))
        return load(path, **kw)

    monkeypatch.setattr(sources_module, "load_skeleton", unreadable)
    result = _convert(raw, tmp_path / "out", on_error="skip")
    skipped = dict(result.skipped)
    assert sorted(skipped) == sorted([os.fsdecode(latin1)[len(str(raw)) + 1:-5], "a02_s01_e00_v02", "a02_s01_e00_v03",
                                      "a02_s01_e01_v01"])
    assert "PermissionError" in skipped["a02_s01_e01_v01"] and "a02_s01_e01_v01.json" in skipped["a02_s01_e01_v01"]
    _assert_consistent(tmp_path / "out", CLIPS)
    body = (tmp_path / "out" / "README.md").read_text()
    assert "Skipped clips (4):" in body and "caf\\\\udce9" in body and "a02\\_s01\\_e01\\_v01" in body
    for name in ("a02_s01_e01_v01.json", "caf"):  # on_error="raise": a typed error naming the file
        only = tmp_path / f"raw-{name}"
        only.mkdir()
        for f in raw.iterdir():
            if name in f.name or f.name == good.name:
                shutil.copy(f, only / f.name)
        with pytest.raises(SkeletonFileError, match=name):
            _convert(only, tmp_path / f"out-{name}")


# ---------------------------------------------------------------------- finding 4: escaped names in the card
def test_card_escapes_skipped_file_names(raw, tmp_path):
    (raw / "a02_s01_e00_v01 a|b*`[x](y)<script>.json").write_text("{")
    (raw / "a02_s01_e00_v02\n# Heading.json").write_text("{")
    result = _convert(raw, tmp_path / "out", on_error="skip")
    assert len(result.skipped) == 2
    text = (tmp_path / "out" / "README.md").read_text()
    body = text.split("Skipped clips (2):", 1)[1].split("\n## Source", 1)[0]
    lines = [line for line in body.splitlines() if line]
    assert len(lines) == 2 and all(line.startswith("- a02\\_s01\\_e00\\_v0") for line in lines)
    assert "<script>" not in text and "](" not in text.split("## Source")[0].split("## Loading")[1]
    assert "a\\|b\\*\\`\\[x\\]\\(y\\)&lt;script&gt;" in lines[0]
    assert "\\\\n\\# Heading" in lines[1] and "\n# Heading" not in text
    from markdown_it import MarkdownIt  # rendered: two plain list items, no link, code, emphasis or HTML

    html = MarkdownIt("commonmark").enable("table").render(body)
    assert html.count("<li>") == 2 and all(tag not in html for tag in ("<a", "<code", "<em", "<script", "<h1"))
    assert "a|b*`[x](y)&lt;script&gt;" in html
    _assert_consistent(tmp_path / "out", CLIPS)  # the card's YAML is intact
