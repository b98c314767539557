"""A fine-tuning training set built from plain arrays: what the Fine-tune dock (and a notebook) teaches.

Two ways to make samples, freely mixed:
- whole cubes, one label each (`TrainingSet.add_cube`);
- one image plus a label image (`TrainingSet.add_regions`): every connected region of one label value
  (8-connected, `scipy.ndimage.label` per value) is one sample, cropped to its bounding box padded to a
  square (the backbone's input is square, so leaves keep their aspect ratio) with every pixel outside
  the region **set to 0**, as a dark tray would look. A label value becomes a class (or a target)
  through a legend.
A label is a class name (classification) or a number (regression). `split` holds images out whole,
so regions of one image never land on both sides. No torch here: `check_bands` imports the band
mapping lazily, inside the worker.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .cube import Cube
from .errors import FocusError

TASKS = ("classification", "regression")
MIN_PER_CLASS = 2
MIN_REGION_PIXELS = 16  # smaller regions are stray brush strokes, not leaves


@dataclass
class Sample:
    """One labelled sample: its cube (a whole image or a cropped region), its label and where it came from."""

    cube: Cube
    label: str | float
    image: str  # the image it belongs to: the unit of the held-out split
    name: str


def parse_target(value: Any, what: str) -> float:
    """A regression target as a finite float, or FocusError naming the sample."""
    if isinstance(value, bool):
        raise FocusError(f"the target of {what} is {value!r}, not a number")
    try:
        out = float(str(value).strip().replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise FocusError(f"the target of {what} is {value!r}, not a number") from None
    if not math.isfinite(out):
        raise FocusError(f"the target of {what} is {value!r}, not a finite number")
    return out


def spatial_labels(labels: Any, cube: Cube, labels_name: str, image_name: str) -> np.ndarray:
    """The (H, W) integer label image for a cube; a (C, H, W) one (painted on a band) is flattened by max."""
    lab = np.asarray(labels)
    if lab.ndim == 3 and lab.shape == tuple(cube.shape):
        lab = lab.max(axis=0)
    if lab.shape != tuple(cube.shape[1:]):
        h, w = cube.shape[1:]
        raise FocusError(f"labels {labels_name!r} have shape {lab.shape} but image {image_name!r} is {h}×{w} "
                         "pixels; paint the labels on that image")
    if not np.issubdtype(lab.dtype, np.integer):
        if np.issubdtype(lab.dtype, np.floating) and np.all(np.mod(lab, 1) == 0):
            lab = lab.astype(np.int64)
        else:
            raise FocusError(f"labels {labels_name!r} are not integer label values")
    return lab


def label_regions(labels: np.ndarray, min_pixels: int = MIN_REGION_PIXELS) -> list[tuple[int, np.ndarray]]:
    """(value, region mask) for every 8-connected region of every positive label value, in a fixed order."""
    from scipy import ndimage

    out = []
    for value in np.unique(labels):
        if value <= 0:
            continue
        comp, n = ndimage.label(labels == value, structure=np.ones((3, 3), bool))
        sizes = np.bincount(comp.ravel(), minlength=n + 1)
        for i in range(1, n + 1):
            if sizes[i] >= min_pixels:
                out.append((int(value), comp == i))
    return out


def region_counts(labels: np.ndarray, min_pixels: int = MIN_REGION_PIXELS) -> dict[int, int]:
    """How many usable regions each label value has (for the dock's legend)."""
    return dict(Counter(v for v, _ in label_regions(labels, min_pixels)))


def crop_region(cube: Cube, mask: np.ndarray) -> Cube:
    """The region's square bounding box (reads only that window), zero outside the region."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    side = max(y1 - y0, x1 - x0)
    oy, ox = (side - (y1 - y0)) // 2, (side - (x1 - x0)) // 2
    out = np.zeros((cube.n_bands, side, side), dtype=np.float32)
    window = np.asarray(cube.data[:, y0:y1, x0:x1], dtype=np.float32)
    out[:, oy : oy + y1 - y0, ox : ox + x1 - x0] = np.where(mask[None, y0:y1, x0:x1], window, 0.0)
    return replace(cube, data=out, metadata=dict(cube.metadata), notes=list(cube.notes))


def count_labels(task: str, labels: Sequence[Any]) -> dict[str, int]:
    """Samples per class in order of first appearance (regression: one entry, 'samples')."""
    if task == "regression":
        return {"samples": len(labels)}
    return dict(Counter(str(x) for x in labels))


def check_labels(task: str, labels: Sequence[Any], classes: Sequence[str] = ()) -> None:
    """Refuse, with one sentence, labels that cannot train a model (the dock asks before building crops, the
    CLI before importing torch). `classes`: the classes the model will have, so one without samples counts."""
    if task == "regression":
        if len(labels) < MIN_PER_CLASS:
            raise FocusError(f"regression needs at least {MIN_PER_CLASS} samples with a target; "
                             f"there are {len(labels)}")
        if len({float(x) for x in labels}) < 2:
            raise FocusError("every sample has the same target: there is nothing to learn")
        return
    counts = {str(c): 0 for c in classes} | count_labels(task, labels)
    few = [c for c, n in counts.items() if n < MIN_PER_CLASS]
    if few:
        c = few[0]
        raise FocusError(f"class {c!r} has {counts[c]} sample{'' if counts[c] == 1 else 's'}; give every class "
                         f"at least {MIN_PER_CLASS}")
    if len(counts) < 2:
        raise FocusError("training needs samples of at least 2 classes" +
                         (f"; all are {next(iter(counts))!r}" if counts else "; there are none yet"))


@dataclass
class TrainingSet:
    """Labelled samples for one task; `classes` is the class order (classification) or [trait name]."""

    task: str = "classification"
    samples: list[Sample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}")

    def __len__(self) -> int:
        return len(self.samples)

    # ------------------------------------------------------------------ building
    def _label(self, label: Any, what: str) -> str | float:
        if self.task == "regression":
            return parse_target(label, what)
        name = str(label).strip()
        if not name:
            raise FocusError(f"{what} has an empty class name")
        return name

    def _checked(self, name: str, cube: Cube) -> Cube:
        """The cube after `input_check` (raw counts, values that are not reflectance, blank or tiny frames are
        refused); what it assumed joins the set's notes."""
        from .input_check import check_input, input_notes

        cube = check_input(cube, cube.source or f"image {name!r}")
        self.notes += [f"{name}: {note}" for note in input_notes(cube)]
        return cube

    def add_cube(self, name: str, cube: Cube, label: Any) -> None:
        """A whole cube as one sample; its layer name is its image."""
        label = self._label(label, f"cube {name!r}")
        self.samples.append(Sample(self._checked(name, cube), label, image=name, name=name))

    def add_regions(self, image_name: str, cube: Cube, labels: Any, legend: Mapping[int, Any],
                    labels_name: str = "labels", min_pixels: int = MIN_REGION_PIXELS) -> int:
        """Every connected region of a legend value in `labels` as one sample; returns how many were added."""
        lab = spatial_labels(labels, cube, labels_name, image_name)
        if not (lab > 0).any():
            raise FocusError(f"labels {labels_name!r} are empty: paint at least one region on {image_name!r}")
        cube = self._checked(image_name, cube)
        added, skipped = 0, Counter()
        for k, (value, mask) in enumerate(label_regions(lab, min_pixels)):
            if value not in legend or legend[value] is None or str(legend[value]).strip() == "":
                skipped[value] += 1
                continue
            what = f"label {value} of {labels_name!r}"
            self.samples.append(Sample(crop_region(cube, mask), self._label(legend[value], what),
                                       image=image_name, name=f"{image_name} · region {k + 1} (label {value})"))
            added += 1
        for value, n in sorted(skipped.items()):
            self.notes.append(f"label {value} of {labels_name!r} has no entry in the legend: {n} region(s) left out")
        return added

    # ------------------------------------------------------------------ summary
    @property
    def classes(self) -> list[str]:
        """Class names in order of first appearance (classification only)."""
        return list(dict.fromkeys(str(s.label) for s in self.samples)) if self.task == "classification" else []

    def counts(self) -> dict[str, int]:
        """Samples per class (regression: one entry, 'samples')."""
        return count_labels(self.task, [s.label for s in self.samples])

    @property
    def images(self) -> list[str]:
        return list(dict.fromkeys(s.image for s in self.samples))

    def check(self) -> None:
        """Refuse, with one sentence, a set that cannot train a model."""
        check_labels(self.task, [s.label for s in self.samples])

    def pairs(self) -> list[tuple[Cube, str | float]]:
        """(Cube, label) pairs, the form `napari_focus.focus.train.train` takes."""
        return [(s.cube, s.label) for s in self.samples]

    # ------------------------------------------------------------------ held-out split
    def split(self, fraction: float, seed: int = 0) -> tuple[TrainingSet, TrainingSet]:
        """(train, held-out), holding out whole images: about `fraction` of each class's samples.

        Images are stratified by their most common label (classification) and shuffled with `seed`; an image is
        held out when that brings the stratum's held-out samples nearer `fraction` of them (counting images let
        one image of two, 10 of 16 samples, go for a fraction of 0.25). Every stratum keeps at least one image
        for training. Deterministic for a given set and seed.
        """
        if not 0.0 <= fraction < 1.0:
            raise FocusError(f"the held-out fraction must be in [0, 1); got {fraction}")
        by_image: dict[str, list[Sample]] = {}
        for s in self.samples:
            by_image.setdefault(s.image, []).append(s)
        strata: dict[str, list[str]] = {}
        for img, ss in by_image.items():
            key = Counter(str(s.label) for s in ss).most_common(1)[0][0] if self.task == "classification" else ""
            strata.setdefault(key, []).append(img)
        rng = np.random.default_rng(int(seed))
        held: set[str] = set()
        for key in sorted(strata):
            imgs = sorted(strata[key])
            target = fraction * sum(len(by_image[img]) for img in imgs)
            n_held, n_images = 0, 0
            for i in rng.permutation(len(imgs)):
                n = len(by_image[imgs[i]])
                if n_images < len(imgs) - 1 and abs(n_held + n - target) < abs(n_held - target):
                    held.add(imgs[i])
                    n_held, n_images = n_held + n, n_images + 1
        tr = TrainingSet(self.task, [s for s in self.samples if s.image not in held], list(self.notes))
        ho = TrainingSet(self.task, [s for s in self.samples if s.image in held])
        if fraction > 0 and not held:
            tr.notes.append("too few images to hold any out: no held-out score")
        return tr, ho


def reference_bands(samples: Sequence[Sample]) -> Cube:
    """The cube whose bands a fresh model adopts: the band set most samples share (first one on ties)."""
    if not samples:
        raise FocusError("no samples")

    def key(c: Cube) -> tuple:
        wl = c.wavelengths_nm
        return (c.n_bands, None if wl is None else tuple(np.round(wl, 1)))

    counts = Counter(key(s.cube) for s in samples)
    best = max(counts.values())
    return next(s.cube for s in samples if counts[key(s.cube)] == best)


def check_bands(samples: Sequence[Sample], wavelengths_nm: Any, n_bands: int, used: Any = None) -> list[str]:
    """Refuse a sample whose bands cannot be mapped to (`wavelengths_nm`, `n_bands`); notes for resampled ones.

    `used`: the model bands that must be filled (default all). Reuses the model input's band mapping,
    which imports torch: call it in a worker.
    """
    from .focus.inputs import band_mapping

    wl = None if wavelengths_nm is None else np.asarray(wavelengths_nm, float)
    used = np.arange(int(n_bands)) if used is None else np.asarray(used, dtype=np.int64)
    notes = []
    for s in samples:
        try:
            _, note = band_mapping(wl, int(n_bands), used, s.cube)
        except FocusError as exc:
            raise FocusError(f"{s.name}: {exc}") from None
        if note:
            notes.append(f"{s.name}: {note}")
    return notes
