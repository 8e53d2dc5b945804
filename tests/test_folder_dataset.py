"""Any folder becomes a dataset (#15): `hf-skeleton convert RAW OUT --dataset folder --labels labels.csv`,
`dataset_tools.from_folder` and `from_arrays`, on real N-UCLA clips and CMU BVH trials."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml

import hf_skeleton as hs
from hf_skeleton import cli
from hf_skeleton.data import action_labels
from hf_skeleton.dataset_tools import (
    FolderSource,
    example_to_sequence,
    format_from_json,
    from_arrays,
    from_folder,
    load_converted,
    stratified_split,
)
from hf_skeleton.errors import SkeletonFileError, SkeletonInputError

datasets.disable_progress_bars()
NUCLA_ACTION_IDS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)  # file prefix aNN, in label order
ARM_JOINTS = ("thorax", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
              "right_shoulder", "right_elbow", "right_wrist", "right_hand")


def _write_csv(path: Path, rows: list[list]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _card(out: Path) -> tuple[dict, str]:
    text = (out / "README.md").read_text()
    return yaml.safe_load(text.split("---")[1]), text


def _nucla_picks(nucla_dir: Path) -> list[Path]:
    """3 real clips per class (one of each view), 30 in all."""
    picks = []
    for a in NUCLA_ACTION_IDS:
        for v in (1, 2, 3):
            picks.append(min(nucla_dir.glob(f"a{a:02d}_s*_v{v:02d}.json")))
    return picks


@pytest.fixture(scope="module")
def nucla_raw(nucla_dir, tmp_path_factory):
    """RAW_DIR with 30 N-UCLA clips in view subfolders, one unlisted clip, and labels.csv (view 3 = test)."""
    raw = tmp_path_factory.mktemp("nucla_raw")
    names = action_labels("nucla")
    rows = [["file", "label", "split"]]
    for f in _nucla_picks(nucla_dir):
        a, v = int(f.name[1:3]), int(f.stem[-2:])
        (raw / f"view{v}").mkdir(exist_ok=True)
        shutil.copy(f, raw / f"view{v}" / f.name)
        rows.append([f"view{v}/{f.name}", names[NUCLA_ACTION_IDS.index(a) + 1], "test" if v == 3 else "train"])
    shutil.copy(max(nucla_dir.glob("a01_*_v01.json")), raw / "unlisted.json")
    _write_csv(raw / "labels.csv", rows)
    return raw, rows


# ---------------------------------------------------------------------- N-UCLA through the generic path
def test_nucla_folder_through_the_cli(nucla_raw, tmp_path, capsys):
    raw, rows = nucla_raw
    out = tmp_path / "out"
    assert cli.main(["convert", str(raw), str(out), "--dataset", "folder", "--labels", str(raw / "labels.csv"),
                     "--num-proc", "2", "--num-shards", "2"]) == 0  # worker processes find the folder source
    assert "default/train: 20 rows in 2 shard(s)" in capsys.readouterr().out
    names = sorted(action_labels("nucla").values())
    for ds in (datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache")), load_converted(out)):
        assert {s: len(ds[s]) for s in ds} == {"train": 20, "test": 10}
        assert ds["train"].features["label"].names == names
        assert isinstance(ds["train"].features["positions"], datasets.Array3D)
        assert ds["train"].features["positions"].shape == (None, 20, 3)
        assert set(ds["test"]["id"]) == {r[0] for r in rows[1:] if r[2] == "test"}
    ds = load_converted(out)
    by_file = {r[0]: r for r in rows[1:]}
    for split in ("train", "test"):
        for row in ds[split].select(range(0, len(ds[split]), 7)):
            listed = by_file[row["id"]]
            seq = hs.load_skeleton(raw / row["id"])
            np.testing.assert_array_equal(np.asarray(row["positions"], np.float32), seq.positions[:, 0])
            np.testing.assert_array_equal(np.asarray(row["mask"]), seq.mask[:, 0])
            assert names[row["label"]] == row["label_name"] == listed[1] and split == listed[2]
            assert row["fps"] == 30 and row["format"] == "kinect_v1"
            back = example_to_sequence(row)
            assert back.format == hs.get_format("kinect_v1") and back.num_frames == seq.num_frames
    meta, text = _card(out)
    assert meta["hf_skeleton"]["source"] == "folder" and meta["configs"][0]["config_name"] == "default"
    assert "1 file(s) in RAW_DIR not listed in labels.csv were ignored" in text
    assert "ClassLabel whose 10 names" in text and "Splits come from labels.csv" in text


# ---------------------------------------------------------------------- the split when labels.csv has none
def test_stratified_split_is_seeded_and_covers_every_class(nucla_raw, tmp_path):
    raw, rows = nucla_raw
    labels = _write_csv(tmp_path / "nosplit.csv", [[r[0], r[1]] for r in rows])

    def split_of(seed, test_size=0.2):
        scan = FolderSource().scan(raw, labels=labels, seed=seed, test_size=test_size)
        return {i.id: i.group for i in scan.items}, scan

    first, scan = split_of(0)
    by_class = {}
    for r in rows[1:]:
        by_class.setdefault(r[1], set()).add(first[r[0]])
    assert all(groups == {"train", "test"} for groups in by_class.values())  # 3 clips per class: 1 test, 2 train
    assert sum(g == "test" for g in first.values()) == 10
    assert split_of(0)[0] == first and split_of(1)[0] != first
    assert any("seeded class-stratified split, test_size=0.2, seed=0" in n for n in scan.notes)
    assert list(scan.configs["default"]) == ["train", "test"]
    # the rule itself: round(test_size * n) half up, 1..n-1 for n >= 2, singletons stay in train
    labels_ = ["a"] * 10 + ["b"] * 2 + ["c"]
    split = stratified_split(labels_, 0.25, seed=0)
    assert [split[:10].count("test"), split[10:12].count("test"), split[12]] == [3, 1, "train"]
    assert stratified_split(labels_, 0.25, seed=0) == split and stratified_split(labels_, 0.0) == ["train"] * 13
    assert stratified_split([None] * 5, 0.4, seed=0).count("test") == 2  # no labels: one group


def test_cli_split_options(nucla_raw, tmp_path):
    raw, rows = nucla_raw
    labels = _write_csv(tmp_path / "nosplit.csv", [[r[0], r[1]] for r in rows])
    out = tmp_path / "out"
    assert cli.main(["convert", str(raw), str(out), "--dataset", "folder", "--labels", str(labels),
                     "--test-size", "0.5", "--seed", "7", "--limit", "20"]) == 0
    ds = load_converted(out)
    assert len(ds["train"]) + len(ds["test"]) == 20 and len(ds["test"]) >= 8
    assert "test_size=0.5, seed=7" in _card(out)[1]
    for bad in (["--test-size", "1"], ["--test-size", "nan"], ["--fps", "0"], ["--seed", "-1"]):
        with pytest.raises(SystemExit):
            cli.main(["convert", str(raw), str(tmp_path / "o2"), "--dataset", "folder", *bad])


# ---------------------------------------------------------------------- arrays with --format NAME / FORMAT.json
@pytest.fixture(scope="module")
def nucla_arrays(nucla_dir):
    return [hs.load_skeleton(f) for f in _nucla_picks(nucla_dir)[:6]]


def test_npy_arrays_with_a_registered_format(nucla_arrays, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    rows = [["file", "label", "split"]]
    for i, seq in enumerate(nucla_arrays[:4]):
        np.save(raw / f"clip{i}.npy", seq.positions[:, 0])  # (T, J, 3)
        rows.append([f"clip{i}.npy", seq.meta["label_name"], "train" if i < 3 else "test"])
    a, b = nucla_arrays[4], nucla_arrays[5]
    T = min(a.num_frames, b.num_frames)
    np.save(raw / "pair.npy", np.concatenate([a.positions[:T], b.positions[:T]], axis=1))  # (T, 2, J, 3)
    rows.append(["pair.npy", "two people", "test"])
    _write_csv(raw / "labels.csv", rows)
    # a plain array does not say its layout: without --format a typed error naming the file
    assert cli.main(["convert", str(raw), str(tmp_path / "no_format"), "--dataset", "folder"]) == 2
    out = tmp_path / "out"
    assert cli.main(["convert", str(raw), str(out), "--dataset", "folder", "--format", "kinect_v1",
                     "--fps", "25"]) == 0
    ds = load_converted(out)
    assert (len(ds["train"]), len(ds["test"])) == (3, 2)
    assert set(ds["train"]["fps"]) == {25.0} and set(ds["train"]["format"]) == {"kinect_v1"}
    assert "positions_2" in ds["train"].features  # some clip has two persons
    rows_by_id = {r["id"]: r for split in ds.values() for r in split}
    np.testing.assert_array_equal(rows_by_id["clip0.npy"]["positions"], nucla_arrays[0].positions[:, 0])
    assert not np.asarray(rows_by_id["clip0.npy"]["mask_2"]).any()
    np.testing.assert_array_equal(rows_by_id["pair.npy"]["positions_2"], b.positions[:T, 0])
    assert example_to_sequence(rows_by_id["pair.npy"]).num_persons == 2


def _arms_format() -> dict:
    k1 = hs.get_format("kinect_v1")
    return {"name": "nucla_arms", "joints": list(ARM_JOINTS), "parents": [-1, 0, 1, 2, 3, 0, 5, 6, 7],
            "parts": {"torso": [0], "left_arm": [1, 2, 3, 4], "right_arm": [5, 6, 7, 8]},
            "mirror_pairs": [[1, 5], [2, 6], [3, 7], [4, 8]], "up_axis": k1.up_axis, "units": k1.units, "dims": 3,
            "description": "N-UCLA arms and hands below the thorax"}


def test_npy_and_npz_arrays_with_a_format_json(nucla_arrays, tmp_path):
    idx = [hs.get_format("kinect_v1").index(j) for j in ARM_JOINTS]
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "arms.json").write_text(json.dumps(_arms_format()))
    rows = [["file", "text"]]
    for i, seq in enumerate(nucla_arrays[:3]):
        np.save(raw / f"arm{i}.npy", seq.positions[:, 0][:, idx])
        rows.append([f"arm{i}.npy", f"arms of {seq.meta['label_name']}"])
    np.savez(raw / "own_rate.npz", positions=nucla_arrays[3].positions[:, 0][:, idx], fps=np.float64(15))
    rows.append(["own_rate.npz", "an npz that records its frame rate"])
    _write_csv(raw / "labels.csv", rows)
    out = tmp_path / "out"
    assert cli.main(["convert", str(raw), str(out), "--dataset", "folder", "--format", str(raw / "arms.json"),
                     "--fps", "30"]) == 0
    ds = load_converted(out)
    rows_by_id = {r["id"]: r for split in ds.values() for r in split}
    assert len(rows_by_id) == 4 and "label" not in ds["train"].features  # no label column: no ClassLabel
    fmt = format_from_json(raw / "arms.json")
    for i in range(3):
        row = rows_by_id[f"arm{i}.npy"]
        assert row["fps"] == 30 and row["format"] == "nucla_arms" and row["text"].startswith("arms of ")
        assert json.loads(row["format_spec"]) == fmt.to_dict()
        seq = example_to_sequence(row)
        assert seq.format == fmt and seq.format.parents == (-1, 0, 1, 2, 3, 0, 5, 6, 7)
        np.testing.assert_array_equal(seq.positions[:, 0], nucla_arrays[i].positions[:, 0][:, idx])
    assert rows_by_id["own_rate.npz"]["fps"] == 15  # a file that records its rate keeps it
    assert "a user-defined format" in _card(out)[1]


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.update(parents=[-1, 2, 1, 2, 3, 0, 5, 6, 7]), "parents"),  # a cycle (several roots are fine)
    (lambda d: d.update(joints="thorax"), "joints"),
    (lambda d: d.update(parts={"torso": [0]}), "parts"),
    (lambda d: d.pop("parents"), "parents"),
    (lambda d: d.update(colour="red"), "keys"),
])
def test_invalid_format_json_names_file_and_field(tmp_path, edit, field):
    data = _arms_format()
    edit(data)
    path = tmp_path / "arms.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SkeletonFileError) as info:
        format_from_json(path)
    assert info.value.path == str(path) and info.value.field == field and str(path) in str(info.value)


def test_format_json_syntax_and_unknown_names(tmp_path, nucla_raw, capsys):
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x",\n "joints": [}')
    with pytest.raises(SkeletonFileError) as info:
        format_from_json(path)
    assert info.value.field == "line 2"
    raw, _ = nucla_raw
    assert cli.main(["convert", str(raw), str(tmp_path / "o"), "--dataset", "folder", "--format", str(path)]) == 2
    assert "broken.json: field line 2" in capsys.readouterr().err
    with pytest.raises(SkeletonInputError, match="registered skeleton format"):
        FolderSource().scan(raw, format="kinect_v9")
    assert cli.main(["convert", str(raw), str(tmp_path / "o"), "--dataset", "nucla", "--fps", "30"]) == 2
    assert "only with --dataset folder" in capsys.readouterr().err


# ---------------------------------------------------------------------- CMU BVH with captions
def test_cmu_bvh_with_text_and_mixed_joint_counts(cmu_dir, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    captions = {}
    with open(cmu_dir / "cmu_motion_labels.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            captions[row["motion_id"]] = row
    picks = ["09_03", "09_08", "16_01"]  # 43-joint trials at 120 fps, a 31-joint one at 30 fps
    rows = [["file", "label", "text"]]
    for stem in picks:
        shutil.copy(cmu_dir / f"{stem}.bvh", raw / f"{stem}.bvh")
        rows.append([f"{stem}.bvh", captions[stem]["short_label"], f"{captions[stem]['long_label']} ({stem})"])
    _write_csv(raw / "labels.csv", rows)
    out = tmp_path / "out"
    result = from_folder(raw, out, test_size=0.0, progress=False)
    # one configuration per joint count, as the CMU source does; the most common first
    assert list(result.data_files) == ["joints43", "joints31"]
    meta, _ = _card(out)
    assert [c["config_name"] for c in meta["configs"]] == ["joints43", "joints31"]
    ds43 = datasets.load_dataset(str(out), "joints43", cache_dir=str(tmp_path / "cache"))
    ds31 = load_converted(out, "joints31")
    assert ds43["train"].features["positions"].shape == (None, 43, 3)
    assert ds31["train"].features["positions"].shape == (None, 31, 3)
    texts = {r["id"]: r["text"] for ds in (ds43, ds31) for r in ds["train"]}
    assert texts == {r[0]: r[2] for r in rows[1:]}
    row = ds31["train"][0]
    seq = hs.load_skeleton(raw / "16_01.bvh")
    np.testing.assert_array_equal(np.asarray(row["positions"], np.float32), seq.positions[:, 0])
    assert row["fps"] == 30 and json.loads(row["format_spec"]) == seq.format.to_dict()
    assert ds43["train"].features["label"].names == sorted({captions[s]["short_label"] for s in picks})


# ---------------------------------------------------------------------- from_arrays
def test_from_arrays_round_trips(nucla_arrays, tmp_path):
    seq = nucla_arrays[2].copy(fps=15.0)
    clips = [nucla_arrays[0].positions[:, 0], nucla_arrays[1].positions, seq]  # (T,J,3), (T,1,J,3), a sequence
    out = tmp_path / "out"
    result = from_arrays(out, clips, labels=["wave", "sit", "wave"], texts=["a", "b", "c"],
                         splits=["train", "train", "test"], format="kinect_v1", fps=20, progress=False)
    assert result.num_rows == {"default": {"train": 2, "test": 1}}
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert ds["train"].features["label"].names == ["sit", "wave"]
    rows = {r["id"]: r for split in ds.values() for r in split}
    assert sorted(rows) == ["clip_00000", "clip_00001", "clip_00002"]
    for i, (label, text, fps) in enumerate([("wave", "a", 20), ("sit", "b", 20), ("wave", "c", 15)]):
        row = rows[f"clip_{i:05d}"]
        assert (row["label_name"], row["text"], row["fps"]) == (label, text, fps)
        np.testing.assert_array_equal(row["positions"], nucla_arrays[i].positions[:, 0])
    # ids, the stratified default split, and refusals
    out2 = tmp_path / "out2"
    from_arrays(out2, [s for s in nucla_arrays[:4]], labels=["x", "x", "y", "y"], ids=list("abcd"), progress=False)
    ds2 = load_converted(out2)
    assert sorted([*ds2["train"]["id"], *ds2["test"]["id"]]) == list("abcd") and len(ds2["test"]) == 2
    with pytest.raises(SkeletonInputError, match="one value per clip"):
        from_arrays(tmp_path / "o3", clips, labels=["x"], format="kinect_v1")
    with pytest.raises(SkeletonInputError, match="format"):
        from_arrays(tmp_path / "o3", [clips[0]])
    with pytest.raises(SkeletonInputError, match=r"clips\[0\]"):
        from_arrays(tmp_path / "o3", [np.zeros((4, 9, 3))], format="kinect_v1")
    with pytest.raises(SkeletonInputError, match="list of clips"):
        from_arrays(tmp_path / "o3", np.zeros((2, 4, 20, 3)), format="kinect_v1")


def test_load_dataset_does_not_serve_another_conversion_from_its_cache(nucla_arrays, tmp_path):
    """datasets keys a local folder's cache on the card (folder name, data file paths, dataset_info), not on the
    parquet contents: the card's dataset_info (features, rows, parquet bytes) keeps two same-named outputs apart."""
    cache = str(tmp_path / "cache")
    loaded = []
    for k, clips in enumerate((nucla_arrays[:2], nucla_arrays[2:4])):
        out = tmp_path / f"run{k}" / "out"
        from_arrays(out, clips, labels=["a", "b"], splits=["train", "train"], progress=False)
        assert "dataset_info" in _card(out)[0]
        loaded.append(datasets.load_dataset(str(out), cache_dir=cache)["train"])
    for ds, clips in zip(loaded, (nucla_arrays[:2], nucla_arrays[2:4])):
        assert list(ds["num_frames"]) == [c.num_frames for c in clips]


# ---------------------------------------------------------------------- bad labels.csv
BAD_ROWS = [
    ("missing.json", "walk", "train", "line 3, column 'file'", "no such file"),
    ("../outside.json", "walk", "train", "line 3, column 'file'", "inside it"),
    ("CLIP", "", "train", "line 3, column 'label'", "non-empty"),
    ("CLIP", "walk", "te st", "line 3, column 'split'", "split name"),
    ("CLIP0", "walk", "train", "line 3, column 'file'", "line 2 lists it"),  # listed twice
]


@pytest.mark.parametrize("file, label, split, field, why", BAD_ROWS)
def test_bad_rows_are_typed_errors_naming_file_line_and_column(nucla_raw, tmp_path, file, label, split, field, why):
    raw, rows = nucla_raw
    good = rows[1:3]
    file = {"CLIP": good[1][0], "CLIP0": good[0][0]}.get(file, file)
    labels = _write_csv(tmp_path / "labels.csv", [["file", "label", "split"], good[0], [file, label, split]])
    with pytest.raises(SkeletonFileError) as info:
        FolderSource().scan(raw, labels=labels)
    assert info.value.path == str(labels) and info.value.field == field and why in str(info.value)


def test_bad_headers_and_cells(nucla_raw, tmp_path, capsys):
    raw, rows = nucla_raw
    cases = {
        "name,label\nx.json,walk\n": "line 1 (header)",  # no file column
        "file,label,label\nx.json,a,b\n": "line 1 (header)",
        "\n\nfile,label\n" + rows[1][0] + ",walk,extra\n": "line 4, column '3'",  # more cells than the header
        "": None,
    }
    for text, field in cases.items():
        path = tmp_path / "labels.csv"
        path.write_text(text)
        with pytest.raises(SkeletonFileError) as info:
            FolderSource().scan(raw, labels=path)
        assert info.value.path == str(path) and info.value.field == field
    (tmp_path / "latin1.csv").write_bytes("file,label\nx.json,caf\xe9\n".encode("latin-1"))
    with pytest.raises(SkeletonFileError, match="field encoding"):
        FolderSource().scan(raw, labels=tmp_path / "latin1.csv")
    with pytest.raises(SkeletonFileError, match="no such file"):
        FolderSource().scan(raw, labels="nowhere.csv")
    # through the CLI: one line naming labels.csv, the line and the column, exit 2
    bad = _write_csv(tmp_path / "bad.csv", [["file", "label"], ["nope.json", "walk"]])
    assert cli.main(["convert", str(raw), str(tmp_path / "o"), "--dataset", "folder", "--labels", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: field line 2, column 'file'" in err and len(err.strip().splitlines()) == 1


def test_skip_bad_skips_rows_and_clips_and_lists_them(nucla_raw, tmp_path):
    raw, rows = nucla_raw
    broken = tmp_path / "raw_extra"
    shutil.copytree(raw, broken)
    (broken / "broken.json").write_text('{"skeletons": [[[0, 0')  # a truncated clip
    labels = _write_csv(broken / "labels.csv", rows[:7] + [
        ["missing.json", "walk", "train"], [rows[1][0], "walk", "train"], [rows[7][0], "", "test"],
        ["broken.json", "walk", "test"]])
    with pytest.raises(SkeletonFileError, match="line 8, column 'file'"):
        from_folder(broken, tmp_path / "strict", labels=labels, progress=False)
    out = tmp_path / "out"
    result = from_folder(broken, out, labels=labels, on_error="skip", progress=False)
    assert sum(result.num_rows["default"].values()) == 6 and len(result.skipped) == 4
    _, text = _card(out)
    assert "Skipped clips (4)" in text and "broken\\.json" in text
    assert text.count("labels\\.csv:") >= 3 and "line 8, column 'file'" in text and "line 10, column 'label'" in text
