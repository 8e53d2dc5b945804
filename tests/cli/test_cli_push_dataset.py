"""`hf-skeleton push-dataset DIR REPO_ID` (#20): the exact files of a converted folder (card + the data files the
card lists), a dry run that writes nothing, a one-line offline failure, and the upload through a fake Hub API."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import datasets
import pytest

from hf_skeleton.cli import main
from hf_skeleton.dataset_tools import from_folder, read_card_configs
from hf_skeleton.errors import SkeletonFileError
from hf_skeleton.hub import HubUnavailableError, dataset_files_to_push, push_dataset_folder

datasets.disable_progress_bars()


@pytest.fixture()
def converted(nucla_dir, tmp_path):
    """8 real N-UCLA clips (2 classes) converted with a labels.csv, plus a stray file in the output folder."""
    raw = tmp_path / "raw"
    raw.mkdir()
    rows = [["file", "label"]]
    for prefix, label in (("a04", "walk around"), ("a05", "sit down")):
        for f in sorted(nucla_dir.glob(f"{prefix}_s01_*.json"))[:4]:
            shutil.copy(f, raw / f.name)
            rows.append([f.name, label])
    with open(raw / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    out = tmp_path / "out"
    from_folder(raw, out, num_shards=2, progress=False)
    (out / "notes.txt").write_text("local notes, not part of the dataset")
    return out


def _expected(out: Path) -> list[str]:
    listed = {Path(f).relative_to(out).as_posix() for splits in read_card_configs(out).values()
              for files in splits.values() for f in files}
    return sorted(listed | {"README.md"})


def test_dry_run_lists_exactly_the_card_and_its_data_files(converted, capsys):
    before = {p: p.stat().st_mtime_ns for p in converted.rglob("*")}
    assert main(["push-dataset", str(converted), "me/nucla-clips", "--dry-run", "--private"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("would upload 5 files") and "dataset repository me/nucla-clips (private)" in lines[0]
    assert [line.strip() for line in lines[1:]] == _expected(converted) == dataset_files_to_push(converted)
    assert len([f for f in _expected(converted) if f.endswith(".parquet")]) == 4  # 2 shards x train/test
    assert "notes.txt" not in "\n".join(lines)
    assert {p: p.stat().st_mtime_ns for p in converted.rglob("*")} == before  # a dry run writes nothing


def test_offline_push_fails_in_one_line(converted, capsys, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert main(["push-dataset", str(converted), "me/nucla-clips"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "offline" in err[0] and "me/nucla-clips" in err[0]
    with pytest.raises(HubUnavailableError, match="me/nucla-clips"):
        push_dataset_folder(converted, "me/nucla-clips")


class FakeHfApi:
    """Records what push_dataset_folder asks of the Hub; reads every file it is handed, as an upload does."""

    calls: list = []

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, **kwargs):
        FakeHfApi.calls.append(("create_repo", repo_id, kwargs))

    def create_commit(self, repo_id, operations, **kwargs):
        uploaded = {op.path_in_repo: Path(op.path_or_fileobj).read_bytes() for op in operations}
        FakeHfApi.calls.append(("create_commit", repo_id, kwargs, uploaded))

        class Info:
            commit_url = f"https://huggingface.co/datasets/{repo_id}/commit/0123"

        return Info()


def test_push_uploads_those_files_to_a_dataset_repository(converted, capsys, monkeypatch):
    import huggingface_hub

    FakeHfApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    assert main(["push-dataset", str(converted), "me/nucla-clips", "--private"]) == 0
    assert "pushed" in capsys.readouterr().out
    (create, repo, kwargs), (commit, repo2, commit_kwargs, uploaded) = FakeHfApi.calls
    assert create == "create_repo" and repo == repo2 == "me/nucla-clips"
    assert kwargs == {"repo_type": "dataset", "private": True, "exist_ok": True}
    assert commit == "create_commit" and commit_kwargs["repo_type"] == "dataset"
    assert sorted(uploaded) == _expected(converted)
    assert uploaded["README.md"] == (converted / "README.md").read_bytes()


def test_a_damaged_folder_is_refused_before_any_upload(converted, tmp_path, capsys):
    victim = next(f for f in _expected(converted) if f.endswith(".parquet"))
    (converted / victim).unlink()
    assert main(["push-dataset", str(converted), "me/nucla-clips", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "README.md" in err[0] and "no such file" in err[0] and victim in err[0]
    card = converted / "README.md"
    card.write_text(card.read_text().replace("license: unknown", "license: other"))
    with pytest.raises(SkeletonFileError, match="license_name"):
        dataset_files_to_push(converted)
    with pytest.raises(SkeletonFileError, match="no such folder|not a folder"):
        dataset_files_to_push(tmp_path / "missing")
