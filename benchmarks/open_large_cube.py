"""How fast a whole-scan ENVI cube opens in napari, and how much memory that takes (against its floor).

Writes a 2000×2000×204 uint16 BIL cube (1.6 GB) to a scratch folder once, then in a fresh process
opens it through the plugin in a shown napari viewer and reports wall time to the first drawn frame
and the process's peak RSS, beside the same for a 128×128 leaf as the baseline in the same run.

    QT_QPA_PLATFORM=xcb xvfb-run -a .venv/bin/python benchmarks/open_large_cube.py [--size 2000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_cube(path: Path, size: int, bands: int = 204) -> Path:
    """A smooth synthetic scan written band by band (never the whole cube in memory)."""
    import spectral.io.envi as envi

    hdr = path.with_suffix(".hdr")
    if hdr.is_file():
        return hdr
    wl = np.linspace(397.32, 1003.58, bands)
    img = envi.create_image(str(hdr), shape=(size, size, bands), dtype=np.uint16, interleave="bil", force=True,
                            ext=".img", metadata={"wavelength": [f"{w:.2f}" for w in wl],
                                                  "wavelength units": "nm", "reflectance scale factor": 10000})
    mm = img.open_memmap(writable=True)
    yy = np.linspace(0, 1, size, dtype=np.float32)[:, None]
    spectrum = (0.05 + 0.4 / (1 + np.exp(-(wl - 715) / 12))).astype(np.float32)
    for r0 in range(0, size, 250):
        rows = slice(r0, min(size, r0 + 250))
        field = (0.8 + 0.2 * np.sin(6 * yy[rows]) * np.cos(np.linspace(0, 7, size, dtype=np.float32))[None])
        mm[rows] = (field[..., None] * spectrum[None, None] * 10000).astype(np.uint16)
    mm.flush()
    del mm
    return hdr


def open_once(hdr: str) -> dict:
    """Child process: open through the plugin, draw, report seconds and peak RSS (MB)."""
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    QApplication.processEvents()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    viewer.open(hdr, plugin="napari-focus")
    viewer.screenshot(canvas_only=True, flash=False)  # forces a drawn frame
    t_open = time.perf_counter() - t0
    t1 = time.perf_counter()
    for band in (10, 100, 200):  # scrubbing: each step reads and draws one band
        viewer.dims.set_current_step(0, band)
        viewer.screenshot(canvas_only=True, flash=False)
    t_scrub = (time.perf_counter() - t1) / 3
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    viewer.close()
    return {"open_s": round(t_open, 3), "scrub_step_s": round(t_scrub, 3), "peak_rss_mb": round(rss, 1),
            "rss_before_open_mb": round(rss0, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "napari_focus_bench")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--write", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write:  # in its own process: Linux carries ru_maxrss across fork+exec, so the parent stays small
        write_cube(Path(args.write), args.size)
        return 0
    if args.child:
        print(json.dumps(open_once(args.child)))
        return 0
    args.scratch.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, size in (("leaf 128²", 128), (f"scan {args.size}²", args.size)):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--write", str(args.scratch / f"cube_{size}"), "--size", str(size)],
                       check=True)
        hdr = (args.scratch / f"cube_{size}").with_suffix(".hdr")
        written = time.perf_counter() - t0
        out = subprocess.run([sys.executable, __file__, "--child", str(hdr)], capture_output=True, text=True,
                             check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        res["file_gb"] = round(hdr.with_suffix(".img").stat().st_size / 1e9, 3)
        res["write_s"] = round(written, 1)
        results[name] = res
    base, big = results["leaf 128²"], results[f"scan {args.size}²"]
    print(json.dumps(results, indent=1))
    print(f"open: {big['open_s']:.2f} s for {big['file_gb']} GB ({big['open_s'] / base['open_s']:.1f}× the leaf); "
          f"peak RSS {big['peak_rss_mb']:.0f} MB (+{big['peak_rss_mb'] - base['peak_rss_mb']:.0f} MB over the leaf)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
