"""Labelled leaf datasets on disk: the contract between the simulator, training and the benchmark.

A dataset folder holds ENVI cubes plus ``manifest.csv`` (``file,label,target,split,leaf_mask,lesion_mask``)
and ``ground_truth.json``. Paths in the manifest are relative to the folder, so a dataset can be moved.
Masks are ``.npy`` boolean arrays read with ``allow_pickle=False``: a dataset is data, never code.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FocusError

MANIFEST_COLUMNS = ("file", "label", "target", "split", "leaf_mask", "lesion_mask")


def _load_mask(path: Path | None) -> np.ndarray | None:
    if path is None:
        return None
    try:
        return np.load(path, allow_pickle=False).astype(bool)
    except (OSError, ValueError) as exc:
        raise FocusError(f"{path}: not a readable mask ({exc})") from exc


@dataclass
class LeafItem:
    """One labelled cube of a dataset (read lazily)."""

    path: Path
    label: str | None
    target: float | None
    split: str
    leaf_mask_path: Path | None = None
    lesion_mask_path: Path | None = None

    def cube(self):  # -> Cube; imported lazily to keep this module light
        from .cube_io import read_cube

        return read_cube(self.path)

    def leaf_mask(self) -> np.ndarray | None:
        return _load_mask(self.leaf_mask_path)

    def lesion_mask(self) -> np.ndarray | None:
        return _load_mask(self.lesion_mask_path)


@dataclass
class LeafDataset:
    """A dataset folder: its items and its ground truth."""

    root: Path
    items: list[LeafItem]
    ground_truth: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[LeafItem]:
        return iter(self.items)

    def split(self, name: str) -> list[LeafItem]:
        return [it for it in self.items if it.split == name]

    @property
    def classes(self) -> list[str]:
        """Class names: from the ground truth when given, else sorted labels of the items."""
        names = self.ground_truth.get("classes")
        if names:
            return list(names)
        return sorted({it.label for it in self.items if it.label})

    @property
    def is_regression(self) -> bool:
        return all(it.label is None for it in self.items) and any(it.target is not None for it in self.items)


def write_manifest(root: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``manifest.csv`` (atomically) from dicts keyed by MANIFEST_COLUMNS."""
    root = Path(root)
    tmp = root / ".manifest.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in MANIFEST_COLUMNS})
    out = root / "manifest.csv"
    tmp.replace(out)
    return out


def load_dataset(folder: str | Path) -> LeafDataset:
    """Read a dataset folder; raise FocusError with a one-line reason when it is not one."""
    root = Path(folder)
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise FocusError(f"{root}: not a dataset folder (no manifest.csv)")
    items: list[LeafItem] = []
    with open(manifest, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "split"} - set(reader.fieldnames or [])
        if missing:
            raise FocusError(f"{manifest}: missing column(s) {', '.join(sorted(missing))}")
        for n, row in enumerate(reader, start=2):
            file = (row.get("file") or "").strip()
            if not file:
                raise FocusError(f"{manifest}:{n}: empty 'file'")
            target_s = (row.get("target") or "").strip()
            try:
                target = float(target_s) if target_s else None
            except ValueError:
                raise FocusError(f"{manifest}:{n}: target {target_s!r} is not a number") from None
            label = (row.get("label") or "").strip() or None

            def rel(key: str, row: dict[str, str] = row) -> Path | None:
                v = (row.get(key) or "").strip()
                return root / v if v else None

            items.append(
                LeafItem(
                    path=root / file,
                    label=label,
                    target=target,
                    split=(row.get("split") or "train").strip(),
                    leaf_mask_path=rel("leaf_mask"),
                    lesion_mask_path=rel("lesion_mask"),
                )
            )
    gt: dict[str, Any] = {}
    gt_path = root / "ground_truth.json"
    if gt_path.is_file():
        try:
            gt = json.loads(gt_path.read_text())
        except json.JSONDecodeError as exc:
            raise FocusError(f"{gt_path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except (RecursionError, UnicodeDecodeError):
            raise FocusError(f"{gt_path}: not a ground-truth file (undecodable or nested too deeply)") from None
        if not isinstance(gt, dict):
            raise FocusError(f"{gt_path}: not a ground-truth file (not a JSON object)")
    return LeafDataset(root=root, items=items, ground_truth=gt)
