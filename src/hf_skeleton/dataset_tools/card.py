"""The dataset card of a converted folder (``README.md``): YAML metadata that ``datasets.load_dataset(folder)``
and the Hub read (license, task categories, tags, configs -> data files, ``dataset_info``) and a body describing
the skeleton layout, fields, splits and skipped clips. Written by :func:`~.convert.convert_dataset`."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SkeletonFileError

if TYPE_CHECKING:
    from .convert import ConversionResult, _Task
    from .sources import Scan, Source

CARD_NAME = "README.md"
# source -> (license_name, license_link): with ``license: other`` the Hub asks for an id of the terms and where
# to read them (a Source may also set ``license_terms``)
LICENSE_TERMS = {
    "nucla": ("nucla-research-only", "https://wangjiangb.github.io/my_data.html"),
    "cmu": ("cmu-mocap", "http://mocap.cs.cmu.edu/faqs.php"),
    "humanml3d": ("amass-non-commercial", "https://amass.is.tue.mpg.de/license.html"),
    "ntu": ("ntu-rgbd-release-agreement", "https://rose1.ntu.edu.sg/dataset/actionRecognition/"),
}


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def _md(text: str) -> str:
    """``text`` (a file name, an error message) as inert markdown text on one line: non-printable characters
    (newlines, undecodable bytes) as Python escapes, ``<>&`` as HTML entities, markdown punctuation
    backslash-escaped, so it cannot open a link, code span, emphasis, heading, table cell or HTML tag."""
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def write_card(result: ConversionResult, source: Source, scan: Scan, tasks: list[_Task],
               folder: str | Path | None = None) -> Path:
    """Write ``README.md`` into ``folder`` (default ``result.out_dir``): YAML metadata (license, task categories,
    tags, configs with their data files) and a body with the joint layout, units, fps, splits, upstream source
    and every skipped clip (names escaped: see :func:`_md`)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    total = sum(n for splits in result.num_rows.values() for n in splits.values())
    configs = [{"config_name": c, "data_files": [{"split": s, "path": files} for s, files in splits.items()],
                **({"default": True} if i == 0 else {})} for i, (c, splits) in enumerate(result.data_files.items())]
    skeleton = {"source": source.name, "configs": {
        c: {"format": lay["format"], "num_joints": len(lay["joints"]), "units": lay["units"], "fps": lay["fps"]}
        for c, lay in result.layouts.items()}}
    lic_name, lic_link = getattr(source, "license_terms", None) or LICENSE_TERMS.get(source.name, (None, None))
    terms = ({"license_name": lic_name, "license_link": lic_link} if source.license == "other" and lic_name
             else {})
    data = DatasetCardData(license=source.license, **terms, task_categories=list(source.task_categories),
                           tags=list(source.tags), pretty_name=source.pretty_name,
                           size_categories=_size_category(total), configs=configs, hf_skeleton=skeleton)
    _dataset_infos(result, source, scan, Path(folder if folder is not None else result.out_dir)).to_dataset_card_data(data)
    first = next(iter(result.data_files))
    features = source.features(first, {**scan.features_info, "raw_dir": ""})
    feature_rows = "\n".join(f"| `{k}` | `{v!r}` |" for k, v in features.items())
    split_rows = "\n".join(f"| {c} | {s} | {n} | {len(result.data_files[c][s])} |"
                           for c, splits in result.num_rows.items() for s, n in splits.items())
    skipped = "".join(f"\n- {_md(i)}: {_md(why)}" for i, why in result.skipped) or " none"
    notes = "".join(f"\n- {n}" for n in scan.notes)
    joint_rows = "\n".join(f"| `{c}` | `{lay['format']}` | {len(lay['joints'])} | {lay['units']} | "
                           f"{', '.join(f'{f:g}' for f in lay['fps'])} | {', '.join(lay['joints'])} |"
                           for c, lay in result.layouts.items())
    body = f"""
# {source.pretty_name}

{source.description}

Converted with `hf-skeleton convert RAW_DIR OUT_DIR --dataset {source.name}` (hf_skeleton).

## Skeleton

- Layout: {source.layout}
- `positions`: (T, J, 3) float32 per clip (the first person{'; `positions_2` the second' if 'positions_2' in features else ''}),
  `mask`: (T, J) bool, True where the joint was observed (unobserved joints hold 0).

| config | format | joints | units | fps | joint order |
|---|---|---|---|---|---|
{joint_rows}

- Each row names its layout (`format`) and stores it as JSON (`format_spec`: joints, parents, body parts,
  mirror pairs, up axis, units), so `hf_skeleton.dataset_tools.example_to_sequence(row)` rebuilds the clip.

## Loading

```python
from datasets import load_dataset
ds = load_dataset("path/to/this/folder", "{first}")            # or load_dataset("parquet", data_files=...)
import hf_skeleton as hs
from hf_skeleton.dataset_tools import example_to_sequence
seq = example_to_sequence(ds["{next(iter(result.data_files[first]))}"][0])
```

## Fields (configuration `{first}`)

| column | feature |
|---|---|
{feature_rows}

## Splits

| config | split | rows | shards |
|---|---|---|---|
{split_rows}

Notes:{notes}

Skipped clips ({len(result.skipped)}):{skipped}

## Source

{source.upstream}. This card describes a conversion of the raw files; the data keeps the license of
its source (`{source.license}` here{f": {lic_name}, {lic_link}" if terms else ""}; see the
upstream terms).
"""
    card = DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}")
    path = Path(folder if folder is not None else result.out_dir) / CARD_NAME
    card.save(str(path))
    return path


def _dataset_infos(result: ConversionResult, source: Source, scan: Scan, folder: Path):
    """``dataset_info`` of every config for the card: features, rows per split and the parquet bytes
    (``download_size``). ``datasets.load_dataset(folder)`` keys its cache on the card (folder name, data file
    paths, these infos), not on the files' contents: without them, two conversions into folders of the same
    name would share one cache entry and the second would load the first's rows."""
    import datasets

    infos = datasets.info.DatasetInfosDict()
    for config, splits in result.data_files.items():
        split_dict = datasets.SplitDict()
        for split in splits:
            split_dict.add(datasets.SplitInfo(name=split, num_examples=result.num_rows[config][split]))
        size = sum((folder / f).stat().st_size for files in splits.values() for f in files)
        infos[config] = datasets.DatasetInfo(features=source.features(config, {**scan.features_info, "raw_dir": ""}),
                                             splits=split_dict, config_name=config, download_size=size)
    return infos


def read_card_configs(out_dir: str | Path) -> dict[str, dict[str, list[str]]]:
    """config -> split -> data files (absolute) from the card of a converted folder."""
    from huggingface_hub import DatasetCard

    out_dir = Path(out_dir)
    card_path = out_dir / CARD_NAME
    if not card_path.is_file():
        raise SkeletonFileError(card_path, None, "a dataset card written by convert_dataset", "no such file")
    configs = DatasetCard.load(str(card_path)).data.to_dict().get("configs") or []
    out = {}
    for cfg in configs:
        out[cfg["config_name"]] = {df["split"]: [str(out_dir / p) for p in (df["path"] if isinstance(df["path"], list)
                                                                             else [df["path"]])]
                                   for df in cfg["data_files"]}
    if not out:
        raise SkeletonFileError(card_path, "configs", "at least one configuration in the YAML header", "none")
    return out


__all__ = ["CARD_NAME", "LICENSE_TERMS", "read_card_configs", "write_card"]
