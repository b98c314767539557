"""Plot the sample leaves' spectra (healthy vs lesion pixels) for the README.

    .venv/bin/python scripts/plot_sample_spectra.py [--out docs/img/sample_spectra.png]

Reads the cubes in `sample_data/` through the plugin's own reader and their ground-truth sidecars;
dashed lines mark the ground truth's top-5 bands. Needs matplotlib.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from napari_focus.cube_io import read_cube
from napari_focus.simulate import ground_truth_for

ROOT = Path(__file__).resolve().parents[1]


def _band(cube, nm: float) -> np.ndarray:
    return np.asarray(cube.data[int(np.argmin(np.abs(cube.wavelengths_nm - nm)))], dtype=np.float64)


def _rgb(cube) -> np.ndarray:
    rgb = np.stack([_band(cube, nm) for nm in (640, 550, 460)], axis=-1)
    return np.clip(rgb / np.percentile(rgb, 99.5), 0, 1)


def _spectra(ax, cube, truth: dict, title: str) -> None:
    data = np.asarray(cube.data, dtype=np.float64)
    wl = cube.wavelengths_nm
    leaf, lesion = truth["leaf_mask"], truth["lesion_mask"]
    for mask, name, colour in (
        (leaf & ~lesion, "healthy pixels", "tab:green"),
        (lesion, "lesion pixels", "tab:brown"),
    ):
        px = data[:, mask]
        mean, sd = px.mean(axis=1), px.std(axis=1)
        ax.plot(wl, mean, color=colour, label=f"{name} (n={mask.sum()})")
        ax.fill_between(wl, mean - sd, mean + sd, color=colour, alpha=0.2, lw=0)
    for i, nm in enumerate(truth["truth"]["gt_top5_nm"]["bls"]):
        ax.axvline(nm, color="k", ls="--", lw=0.8, label="ground-truth top 5" if i == 0 else None)
    ax.set(title=title, xlabel="wavelength (nm)", ylabel="reflectance")
    ax.legend(fontsize=7, loc="upper left")


def plot(sample_dir: Path, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vnir = read_cube(sample_dir / "bls_vnir204.hdr")
    vswir = read_cube(sample_dir / "bls_vswir200.hdr")
    geno = read_cube(sample_dir / "genotypes_vnir204.hdr")
    t_vnir = ground_truth_for(sample_dir / "bls_vnir204.hdr")
    t_vswir = ground_truth_for(sample_dir / "bls_vswir200.hdr")
    t_geno = ground_truth_for(sample_dir / "genotypes_vnir204.hdr")

    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), gridspec_kw={"width_ratios": [1, 1.6, 1.6]})
    axes[0, 0].imshow(_rgb(vnir))
    axes[0, 0].contour(t_vnir["lesion_mask"], levels=[0.5], colors="magenta", linewidths=0.8)
    axes[0, 0].set_title("bls_vnir204 (RGB 640/550/460 nm)\nmagenta: lesion mask", fontsize=9)
    _spectra(axes[0, 1], vnir, t_vnir, "leaf with bacterial spot, VNIR (vnir204)")
    _spectra(axes[0, 2], vswir, t_vswir, "leaf with bacterial spot, VNIR-SWIR (vswir200)")
    axes[1, 0].imshow(_rgb(geno))
    axes[1, 0].contour(t_geno["label_mask"], levels=[0.5, 1.5, 2.5, 3.5], colors="white", linewidths=0.6)
    axes[1, 0].set_title("genotypes_vnir204 (four leaves)", fontsize=9)
    classes = t_geno["truth"]["classes"]
    data = np.asarray(geno.data, dtype=np.float64)
    for i, name in enumerate(classes, start=1):
        m = t_geno["label_mask"] == i
        axes[1, 1].plot(geno.wavelengths_nm, data[:, m].mean(axis=1), label=name)
    axes[1, 1].set(
        title="four genotypes: leaf-mean spectra (VNIR)", xlabel="wavelength (nm)", ylabel="reflectance"
    )
    axes[1, 1].legend(fontsize=7)
    for name in classes:
        curve = np.asarray(t_geno["truth"]["sensitivity"][name])
        axes[1, 2].plot(geno.wavelengths_nm, curve, label=name)
    axes[1, 2].set(
        title="ground truth: noise-weighted sensitivity, class vs rest",
        xlabel="wavelength (nm)",
        ylabel="|delta reflectance| / noise sigma",
    )
    axes[1, 2].legend(fontsize=7)
    for ax in axes[:, 0]:
        ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=ROOT / "sample_data")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "sample_spectra.png")
    args = parser.parse_args()
    print(plot(args.samples, args.out))


if __name__ == "__main__":
    main()
