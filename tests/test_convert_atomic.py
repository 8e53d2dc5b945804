"""Dataset conversion loses no data (issue #16): one writer per output folder, output swapped in only when
complete (interrupts and failures leave the previous output), every bad clip skipped with --skip-bad, skipped
file names escaped in the card, and files the conversion did not write never deleted. Real N-UCLA/CMU clips."""

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import datasets
import pytest

from hf_skeleton import cli
from hf_skeleton.dataset_tools import convert, convert_dataset, load_converted, read_card_configs
from hf_skeleton.dataset_tools import sources as sources_module
from hf_skeleton.dataset_tools.sources import SOURCES
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


# ---------------------------------------------------------------------- finding 1: one writer per folder
def test_second_writer_into_same_folder_gets_typed_error(raw, cmu_dir, tmp_path, monkeypatch):
    """N-UCLA being written into OUT while CMU is started into OUT: CMU is refused, N-UCLA completes intact."""
    out = tmp_path / "out"
    cmu_raw = tmp_path / "cmu"
    cmu_raw.mkdir()
    (cmu_raw / "02_01.bvh").symlink_to(cmu_dir / "02_01.bvh")
    started, release = threading.Event(), threading.Event()
    nucla = SOURCES["nucla"]
    original = nucla.to_example

    def slow(item, info):
        started.set()
        assert release.wait(30)
        return original(item, info)

    monkeypatch.setattr(nucla, "to_example", slow)
    outcome = {}
    writer = threading.Thread(target=lambda: outcome.setdefault("result", _convert(raw, out)))
    writer.start()
    try:
        assert started.wait(30)
        with pytest.raises(SkeletonFileError, match="another conversion holds it") as err:
            convert_dataset(cmu_raw, out, "cmu", progress=False)
        assert str(out) in str(err.value) and f"pid {os.getpid()}" in str(err.value)
        with pytest.raises(SkeletonFileError, match="another conversion"):  # --overwrite does not bypass the lock
            convert_dataset(cmu_raw, out, "cmu", progress=False, overwrite=True)
    finally:
        release.set()
        writer.join(60)
    assert sum(outcome["result"].num_rows["default"].values()) == len(CLIPS)
    _assert_consistent(out, CLIPS)
    assert list(read_card_configs(out)) == ["default"]  # N-UCLA's card, no CMU configuration


def test_lock_held_by_another_process_and_stale_lock(raw, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    code = ("import sys; from pathlib import Path; from hf_skeleton.dataset_tools.convert import _locked\n"
            "with _locked(Path(sys.argv[1])):\n    print('held', flush=True); sys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli.main(["convert", str(raw), str(out), "--dataset", "nucla"]) == 2
        err = capsys.readouterr().err
        assert "another conversion holds it" in err and str(out) in err and f"pid {holder.pid}" in err
    finally:
        holder.stdin.close()
        holder.wait(30)
    # the holder is gone: its lock is released; a lock file left by a dead process is taken over
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / convert.LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": "here", "since": "then"}))
    assert cli.main(["convert", str(raw), str(out), "--dataset", "nucla"]) == 0
    _assert_consistent(out, CLIPS)


# ---------------------------------------------------------------------- finding 2: complete old or complete new
def _interrupted_overwrite(raw, out, monkeypatch, owner, attr, at, card):
    """An ``overwrite=True`` rerun interrupted (KeyboardInterrupt) at the ``at``-th call of ``owner.attr``
    leaves the previous output: the same card, every row."""
    monkeypatch.setattr(owner, attr, _once(getattr(owner, attr), KeyboardInterrupt(), at))
    with pytest.raises(KeyboardInterrupt):
        _convert(raw, out, overwrite=True, num_shards=1)
    monkeypatch.undo()
    assert (out / "README.md").read_text() == card
    _assert_consistent(out, CLIPS)


def test_interrupted_overwrite_keeps_previous_output(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = _convert(raw, out)
    card = (out / "README.md").read_text()
    for at in (1, 4, 6):  # first clip, middle, last clip
        _interrupted_overwrite(raw, out, monkeypatch, SOURCES["nucla"], "to_example", at, card)
    assert first.data_files == _convert(raw, out, overwrite=True).data_files  # lock released, output replaced


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_interrupt_or_crash_during_swap_restores_previous_output(raw, tmp_path, monkeypatch, step):
    """Each of the four renames of the swap interrupted (KeyboardInterrupt: rolled back at once) or killed
    (no rollback in the process: the next conversion into the folder restores the previous output)."""
    out = tmp_path / "out"
    _convert(raw, out)
    card = (out / "README.md").read_text()
    _interrupted_overwrite(raw, out, monkeypatch, convert, "_move", step, card)
    # a killed process: the swap stops at `step` and nothing rolls back or cleans up
    monkeypatch.setattr(convert, "_move", _once(convert._move, SystemExit(9), step))
    monkeypatch.setattr(convert, "_recover", lambda out_dir: None)
    monkeypatch.setattr(convert, "_remove", lambda path: None)
    with pytest.raises(SystemExit):
        _convert(raw, out, overwrite=True, num_shards=1)
    monkeypatch.undo()
    assert not (out / "README.md").exists() or (out / "README.md").read_text() == card  # never a mixed card
    (out / convert.LOCK_NAME).write_text('{"pid": 1, "host": "gone"}')  # a killed holder's lock file, unlocked
    with pytest.raises(SkeletonFileError, match="previous conversion"):
        _convert(raw, out)  # restores the previous output first, then refuses without overwrite
    assert (out / "README.md").read_text() == card
    _assert_consistent(out, CLIPS)


def test_crash_while_deleting_previous_output_keeps_new_output(raw, tmp_path, monkeypatch):
    """Killed after the commit, half-way through deleting the previous output: the new output stays."""
    out = tmp_path / "out"
    _convert(raw, out)
    remove = convert._remove

    def killed_midway(path):
        if path.name.startswith(convert._OLD):
            (path / "README.md").unlink()
            raise SystemExit(9)
        remove(path)

    monkeypatch.setattr(convert, "_remove", killed_midway)
    with pytest.raises(SystemExit):
        _convert(raw, out, overwrite=True, num_shards=1)
    monkeypatch.undo()
    with pytest.raises(SkeletonFileError, match="previous conversion"):
        _convert(raw, out)  # settles the folder, then refuses without overwrite
    _assert_consistent(out, CLIPS)
    assert len(list((out / "data").rglob("*.parquet"))) == 2  # the new output (one shard per split)


def test_leftover_temporary_folder_is_ignored_and_cleaned(raw, tmp_path):
    out = tmp_path / "out"
    _convert(raw, out)
    leftover = out / f"{convert._TMP}99999-abc" / "data" / "default"
    leftover.mkdir(parents=True)
    shutil.copy(next((out / "data" / "default").glob("train-*.parquet")), leftover / "train-00000-of-00001.parquet")
    assert _ids(out) == sorted(CLIPS)
    assert len(datasets.load_dataset(str(out))["train"]) == 4  # the generic loader skips hidden folders too
    _convert(raw, out, overwrite=True)
    _assert_consistent(out, CLIPS)


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
        assert not (tmp_path / f"out-{name}").exists()  # the folder it created is removed again


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


# ---------------------------------------------------------------------- files the conversion did not write
def test_unrelated_files_are_refused_and_never_deleted(raw, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SkeletonFileError, match="notes.txt"):
        _convert(raw, out)
    _convert(raw, out, overwrite=True)  # adds README.md and data/ beside the user's file
    assert (out / "notes.txt").read_text() == "mine" and _ids(out) == sorted(CLIPS)
    (out / "data" / "mine.csv").write_text("mine")  # a user's file inside data/: never replaced
    with pytest.raises(SkeletonFileError, match="mine.csv"):
        _convert(raw, out, overwrite=True)
    assert (out / "data" / "mine.csv").read_text() == "mine" and _ids(out) == sorted(CLIPS)
    user = tmp_path / "user"
    user.mkdir()
    (user / "README.md").write_text("# my project\n")
    (user / "data").mkdir()
    (user / "data" / "table.parquet").write_text("x")
    with pytest.raises(SkeletonFileError, match="README.md"):
        _convert(raw, user, overwrite=True)
    assert (user / "README.md").read_text() == "# my project\n" and (user / "data" / "table.parquet").read_text() == "x"
    assert sorted(p.name for p in user.iterdir()) == ["README.md", "data"]


# ---------------------------------------------------------------------- scan-time errors under --skip-bad
def test_skip_bad_also_skips_files_the_scan_cannot_list(raw, tmp_path):
    (raw / "notes.json").write_text("{}")  # no aNN_sNN_eNN_vNN in the name
    os.mkfifo(raw / "a09_s01_e00_v01.json")  # would block a reader forever
    (raw / "a09_s01_e00_v02.json").symlink_to(raw / "gone.json")  # dangling
    with pytest.raises(SkeletonFileError, match="a09_s01_e00_v01.json"):  # without --skip-bad: typed, first bad file
        _convert(raw, tmp_path / "strict")
    result = _convert(raw, tmp_path / "out", on_error="skip")
    assert sorted(dict(result.skipped)) == ["a09_s01_e00_v01.json", "a09_s01_e00_v02.json", "notes.json"]
    _assert_consistent(tmp_path / "out", CLIPS)
    assert "Skipped clips (3):" in (tmp_path / "out" / "README.md").read_text()


def test_skip_bad_skips_a_bvh_without_hierarchy(cmu_dir, tmp_path):
    raw = tmp_path / "cmu"
    raw.mkdir()
    shutil.copy(cmu_dir / "02_01.bvh", raw)
    (raw / "99_01.bvh").write_text("")
    with pytest.raises(SkeletonFileError, match="99_01.bvh"):
        convert_dataset(raw, tmp_path / "strict", "cmu", progress=False)
    result = convert_dataset(raw, tmp_path / "out", "cmu", progress=False, on_error="skip")
    assert [name for name, _ in result.skipped] == ["99_01.bvh"]
    assert sum(n for splits in result.num_rows.values() for n in splits.values()) == 1
