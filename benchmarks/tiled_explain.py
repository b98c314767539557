"""Scale: a whole scan explained by tiles (time, peak RSS), and batch throughput in cubes/minute.

1. Tiled explain of the 2000×2000×204 uint16 BIL ENVI scan that `open_large_cube.py` writes (1.63 GB, a
   reflectance scale factor, so the reader serves it as a lazy dask array over the memory map), with the
   embedded backbone (d192 × 6 layers, patch 8, 96 px input) under FOCUS prompts (G 10, K 2; random
   prompts: cost does not depend on them): tiles of 96 px, 25% overlap; then the saliency cube (3.3 GB
   float32) streamed to ENVI. In a fresh process; peak RSS is the kernel's VmHWM, split into anonymous
   memory and file-backed pages of the memory-mapped input (sampled every 0.1 s).
2. Batch throughput: `napari-focus explain DIR --model M --out O` on simulated leaves (`simulate --task bls
   --sensor vnir204`) of 128² and 256² px, in one process vs `--workers 2` (a Dask LocalCluster of two
   single-threaded workers), each a fresh command: wall time includes start-up and model loading.

    nice -n 10 .venv/bin/python benchmarks/tiled_explain.py [--size 2000] [--n 24] [--skip-tiled] [--skip-batch]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "napari_focus.cli"]


def _status() -> dict[str, int]:
    """This process's memory counters in kB (VmHWM = peak RSS)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, val = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(val.split()[0])
    return out


class PeakSampler(threading.Thread):
    """Largest anonymous and file-backed RSS seen (VmHWM alone cannot tell them apart)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.anon = self.file = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            s = _status()
            self.anon, self.file = max(self.anon, s["RssAnon"]), max(self.file, s["RssFile"])


def make_model(folder: Path) -> Path:
    """A FOCUS checkpoint on the embedded backbone, 204 vnir204 bands, 2 classes (random prompts)."""
    if (folder / "config.json").is_file():
        return folder
    import numpy as np
    import torch

    from napari_focus.focus.checkpoint import save_checkpoint
    from napari_focus.focus.factory import backbone_spec, new_model

    torch.set_num_threads(2)
    wl = np.linspace(400.0, 1000.0, 204)
    model = new_model(backbone_spec(), 204, wl, ["healthy", "bls"], n_groups=10, seed=0)
    model.calibrate(0.05 + 0.4 * torch.rand(2, 204, model.img_size, model.img_size))
    return save_checkpoint(model.eval(), folder)


def tiled_child(hdr: str, model_dir: str, out: str) -> dict:
    """Child process: explain the scan by tiles, stream T to ENVI, report times and memory."""
    import torch

    from napari_focus.cube_io import read_cube
    from napari_focus.export import export_explanation
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.tiled import explain_tiled

    torch.set_num_threads(2)
    sampler = PeakSampler()
    sampler.start()
    base = _status()
    model = load_checkpoint(model_dir)
    cube = read_cube(hdr)
    t0 = time.perf_counter()
    ticks: list[float] = []
    exp = explain_tiled(model, cube, progress=lambda d, n, i: ticks.append(time.perf_counter()))
    t_explain = time.perf_counter() - t0
    t1 = time.perf_counter()
    export_explanation(exp, out, list(model.classes))
    t_export = time.perf_counter() - t1
    sampler.stop.set()
    sampler.join()
    end = _status()
    return {"tiles_planned": len(ticks), "tiles_explained": len(exp.tiles), "explain_s": round(t_explain, 1),
            "tiles_per_s": round(len(exp.tiles) / max(ticks[-1] - t0, 1e-9), 2), "export_s": round(t_export, 1),
            "saliency_gb": round(Path(out, "saliency.img").stat().st_size / 1e9, 2),
            "peak_rss_mb": round(end["VmHWM"] / 1024), "peak_anon_mb": round(sampler.anon / 1024),
            "peak_file_mb": round(sampler.file / 1024), "rss_after_model_load_mb": round(base["VmRSS"] / 1024),
            "notes": exp.notes}


def run_tiled(scratch: Path, size: int, model_dir: Path) -> dict:
    sys.path.insert(0, str(HERE))
    from open_large_cube import write_cube  # the same scan the open benchmark measures

    hdr = write_cube(scratch / f"cube_{size}", size)
    out = scratch / f"tiled_{size}"
    res = subprocess.run([sys.executable, __file__, "--child-tiled", str(hdr), str(model_dir), str(out)],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def simulate(scratch: Path, size: int, n: int) -> Path:
    folder = scratch / f"leaves_{size}_{n}"
    if not (folder / "manifest.csv").is_file():
        subprocess.run(CLI + ["simulate", "--task", "bls", "--sensor", "vnir204", "--n", str(n), "--size", str(size),
                              "--seed", "7", "--out", str(folder), "--overwrite"], check=True, capture_output=True)
    return folder


def run_batch(scratch: Path, leaves: Path, model_dir: Path, label: str, extra: list[str]) -> dict:
    import shutil

    out = scratch / f"batch_{leaves.name}_{label}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    res = subprocess.run(CLI + ["explain", str(leaves), "--model", str(model_dir), "--out", str(out)] + extra,
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-2000:])
    info = json.loads(res.stdout.strip().splitlines()[-1])
    return {"cubes": info["explained"], "wall_s": round(wall, 1), "cubes_per_min": round(60 * info["explained"] / wall,
                                                                                         1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--n", type=int, default=24, help="leaves per batch")
    ap.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "napari_focus_bench")
    ap.add_argument("--skip-tiled", action="store_true")
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--child-tiled", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--child-model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_tiled:
        print(json.dumps(tiled_child(*args.child_tiled)))
        return 0
    if args.child_model:  # in its own process, so the parent never holds torch
        make_model(Path(args.child_model))
        return 0
    args.scratch.mkdir(parents=True, exist_ok=True)
    model_dir = args.scratch / "model_vnir204"
    subprocess.run([sys.executable, __file__, "--child-model", str(model_dir)], check=True)
    results: dict = {}
    if not args.skip_tiled:
        results["tiled"] = r = run_tiled(args.scratch, args.size, model_dir)
        print(json.dumps(r), flush=True)
    if not args.skip_batch:
        for size in (128, 256):
            leaves = simulate(args.scratch, size, args.n)
            for label, extra in (("1 process", []), ("LocalCluster, 2 workers", ["--workers", "2"])):
                results[f"{size}² {label}"] = r = run_batch(args.scratch, leaves, model_dir, label.split(",")[0]
                                                            .replace(" ", "_"), extra)
                print(f"{size}² {label}: {json.dumps(r)}", flush=True)
    print(json.dumps(results, indent=1))
    if "tiled" in results:
        t = results["tiled"]
        print(f"\n| scan {args.size}²×204 | tiles | explain (s) | tiles/s | export T (s, GB) | peak RSS (MB) | "
              "anon / file-backed (MB) |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        print(f"| by tiles of 96 px, 25% overlap | {t['tiles_explained']} | {t['explain_s']} | {t['tiles_per_s']} | "
              f"{t['export_s']} ({t['saliency_gb']}) | {t['peak_rss_mb']} | "
              f"{t['peak_anon_mb']} / {t['peak_file_mb']} |")
    rows = [k for k in results if k != "tiled"]
    if rows:
        print("\n| leaves | mode | cubes | wall (s) | cubes/min |")
        print("| --- | --- | --- | --- | --- |")
        for k in rows:
            size, mode = k.split(" ", 1)
            r = results[k]
            print(f"| {size} | {mode} | {r['cubes']} | {r['wall_s']} | {r['cubes_per_min']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
