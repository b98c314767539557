"""Make the cubes in `sample_data/` with the project's own leaf simulator (deterministic).

    .venv/bin/python scripts/make_sample_data.py [--out sample_data]

Writes, for each sample, `<stem>.hdr/.img` (ENVI, uint16, reflectance scale factor 10000) and the
sidecars `<stem>_leaf.npy`, `<stem>_lesion.npy` (bls) or `<stem>_classes.npy` (which leaf is which
genotype: 1 + class index) and `<stem>_truth.json` (generator parameters, band sensitivity, top 5).
Same code -> identical bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_focus.simulate import get_sensor, simulate_leaf, simulate_scene, write_leaf
from napari_focus.simulate.ground_truth import ground_truth
from napari_focus.simulate.tasks import task_spec

SIZE = 112  # 204 bands x 112 x 112 x 2 bytes = 5.1 MB per cube
# name -> (task, sensor, seed, labels); seeds picked once for a clearly diseased leaf (~5 % lesions)
SAMPLES = {
    "bls_vnir204": ("bls", "vnir204", 1, ["bls"]),
    "bls_vswir200": ("bls", "vswir200", 7, ["bls"]),
    "genotypes_vnir204": (
        "genotype",
        "vnir204",
        2,
        ["A_chlorophyll", "B_anthocyanin", "C_carotenoid", "D_structure"],
    ),
}


def make(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, (task, sensor_name, seed, labels) in SAMPLES.items():
        sensor = get_sensor(sensor_name)
        spec = task_spec(task, float(sensor.wavelengths_nm.max()))
        if len(labels) == 1:
            leaf = simulate_leaf(task, sensor, SIZE, seed, label=labels[0])
        else:
            leaf = simulate_scene(task, sensor, SIZE, seed, labels)
        truth = ground_truth(
            spec, sensor, {"script": "scripts/make_sample_data.py", "seed": seed, "size": SIZE}
        )
        truth.pop("generator")  # the leaf's own generator parameters are recorded by write_leaf
        hdr = write_leaf(out / f"{stem}.hdr", leaf, truth)
        written.append(hdr)
        print(f"{hdr}: {leaf.cube.shape}, {hdr.with_suffix('.img').stat().st_size / 1e6:.1f} MB")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "sample_data")
    make(parser.parse_args().out)


if __name__ == "__main__":
    main()
