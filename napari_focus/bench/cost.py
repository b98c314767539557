"""Cost of explaining one cube: FOCUS vs Grad-CAM, gradient × input and a naive per-band-token ViT.

The cost setting of `benchmarks/cost.py` and the benchmark's cost table share this module. The frozen
backbone has random weights (cost does not depend on them). Time is the median of `repeats` runs
after a warm-up; memory is the peak resident set size during those runs above the RSS just before
(sampled every 2 ms). With `isolate`, every measurement runs in its own process
(`python -m napari_focus.bench.cost JOB`), so methods do not share freed memory.
The naive ViT sees one token per (patch, band), C·N tokens; where it would take too long it is
measured at fewer bands and extrapolated (quadratic in the token count), and the table says so.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

#: method key → (label, what it measures)
ROWS = {
    "focus_one": "FOCUS, 1 class",
    "focus_all": "FOCUS, all classes (one pass)",
    "joint_one": "FOCUS in one joint sequence of N·G tokens (Table IV ablation), 1 class",
    "joint_all": "FOCUS in one joint sequence, all classes (one pass)",
    "gradxinput_one": "gradient × input, 1 class",
    "gradcam_one": "Grad-CAM, 1 class",
    "gradcam_all": "Grad-CAM, all classes (one backward pass each)",
    "naive": "naive ViT, one token per (patch, band): forward pass only",
}
#: the rows `cost_cell` measures by explaining a cube (the naive ViT is measured apart)
MEASURED = ("focus_one", "focus_all", "joint_one", "joint_all", "gradxinput_one", "gradcam_one", "gradcam_all")


def timed(fn: Callable[[], Any], repeats: int) -> float:
    """Median seconds of `repeats` calls after one warm-up call."""
    fn()
    ts = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def timed_interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, run in turns (one warm-up each): on a shared machine a change of
    load then hits every function alike, so their ratios hold better than with `timed` one after another."""
    for fn in fns.values():
        fn()
    ts: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(max(1, repeats)):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            ts[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in ts.items()}


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; elsewhere the lifetime peak, an upper bound)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _release_freed_memory() -> None:
    """glibc only: hand freed heap memory back to the OS and mmap every block ≥ 64 KiB from now on, so that
    a measurement in a process that measured before starts from (and frees back to) the live memory."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD (fixed: disables the dynamic threshold)
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Peak RSS above the level at entry, sampled by a thread while the block runs."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak_mb = 0.0

    def __enter__(self) -> PeakRSS:
        _release_freed_memory()
        self._base = rss_mb()
        self._peak = self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, rss_mb())
            time.sleep(self.interval)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self._peak, rss_mb()) - self._base


def cost_model(n_bands: int, backbone: dict[str, Any], n_groups: int = 10, n_classes: int = 3, seed: int = 0,
               joint: bool = False):
    """A calibrated FOCUS model on a random frozen ViT, on the bands of `wavelengths(n_bands)`
    (`joint`: the one-joint-sequence ablation, focus/joint.py)."""
    import torch
    from timm.models.vision_transformer import VisionTransformer

    from napari_focus.focus.backbone import BackboneSpec, freeze
    from napari_focus.focus.groups import make_groups
    from napari_focus.focus.joint import JointFocusModel
    from napari_focus.focus.model import FocusModel

    torch.manual_seed(seed)
    wl = wavelengths(n_bands)
    cls = JointFocusModel if joint else FocusModel
    model = cls(freeze(VisionTransformer(**backbone)), BackboneSpec(kwargs=dict(backbone)),
                make_groups(n_bands, wl, n_groups), [f"class{i}" for i in range(n_classes)], wavelengths_nm=wl)
    s = int(backbone["img_size"])
    model.calibrate(torch.rand(2, n_bands, s, s))
    return model.eval()


def wavelengths(n_bands: int) -> np.ndarray:
    """204 bands: the VNIR preset's range; otherwise 400–2500 nm (the VSWIR preset's), as in the paper's sensors."""
    return np.linspace(400, 1000, n_bands) if n_bands == 204 else np.linspace(400, 2500, n_bands)


def random_cube(n_bands: int, size: int, seed: int = 0):
    from napari_focus.cube import Cube

    rng = np.random.default_rng(seed)
    cube = Cube(rng.random((n_bands, size, size)).astype(np.float32), wavelengths_nm=wavelengths(n_bands))
    return cube, np.ones((size, size), bool)


def explain_fns(model, cube, leaf) -> dict[str, Callable[[], Any]]:
    """The explanations whose cost is compared (same model, same cube).

    FOCUS renders T (C·H·W floats per class) on its first read: "focus_one" / "focus_all" read every T
    (what a viewer of those explanations gets); the "_deferred" ones stop at M, B and the probabilities;
    "focus_render_T" is that first read of one class's T alone.
    """
    from napari_focus.focus.explain import explain, explain_classes

    k = model.n_classes
    held: dict[str, Any] = {}

    def render_T() -> Any:  # the explanation is made in timed()'s warm-up call, outside the timing
        if "T" not in held:
            held["T"] = explain(model, cube, class_index=0, leaf_mask=leaf).__dict__["_T"]
        return held["T"].render()

    return {
        "focus_one": lambda: explain(model, cube, class_index=0, leaf_mask=leaf).T,
        "focus_all": lambda: [e.T for e in explain_classes(model, cube, leaf_mask=leaf)],
        "focus_one_deferred": lambda: explain(model, cube, class_index=0, leaf_mask=leaf),
        "focus_all_deferred": lambda: explain_classes(model, cube, leaf_mask=leaf),
        "focus_render_T": render_T,
        "gradxinput_one": lambda: explain(model, cube, 0, method="gradxinput", leaf_mask=leaf),
        "gradcam_one": lambda: explain(model, cube, 0, method="gradcam", leaf_mask=leaf),
        "gradcam_all": lambda: [explain(model, cube, c, method="gradcam", leaf_mask=leaf) for c in range(k)],
        "focus_vegetation": lambda: explain(model, cube, class_index=0).T,
    }


def naive_fn(backbone: dict[str, Any], n_bands: int, n_classes: int = 3, seed: int = 0) -> Callable[[], Any]:
    """Forward pass of a ViT over C·N tokens: each band embedded by the patch conv (summed over RGB) plus
    the spatial position and a band embedding, one CLS, the same blocks, a linear head."""
    import torch
    import torch.nn.functional as F
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    vit = VisionTransformer(**backbone).eval()
    d, s = vit.embed_dim, int(backbone["img_size"])
    band_embed = 0.02 * torch.randn(n_bands, 1, d)
    head = torch.nn.Linear(d, n_classes)
    x = torch.rand(n_bands, 1, s, s)
    proj = vit.patch_embed.proj

    @torch.inference_mode()
    def run() -> torch.Tensor:
        e = F.conv2d(x, proj.weight.sum(1, keepdim=True), proj.bias, stride=proj.stride)
        tok = vit._pos_embed(e.flatten(2).transpose(1, 2))  # (C, prefix + N, d)
        p0 = vit.num_prefix_tokens
        seq = torch.cat([tok[:1, :p0], (tok[:, p0:] + band_embed).reshape(1, -1, d)], 1)
        for blk in vit.blocks:
            seq = blk(seq)
        return head(vit.norm(seq)[:, 0])

    return run


def _job_fn(job: dict[str, Any]) -> tuple[Callable[[], Any], int]:
    """(the call a JSON-able job measures, its token count for the naive ViT or 0)."""
    import torch

    torch.set_num_threads(int(job.get("threads", 2)))
    if job["method"] == "naive":
        tokens = job["n_bands"] * (int(job["backbone"]["img_size"]) // int(job["backbone"]["patch_size"])) ** 2
        return naive_fn(job["backbone"], job["n_bands"], job["n_classes"]), tokens
    joint = job["method"].startswith("joint_")  # the same explanation, of the joint-sequence model
    model = _shared_cost_model(job["n_bands"], json.dumps(job["backbone"], sort_keys=True), job["n_groups"],
                               job["n_classes"], joint)
    cube, leaf = random_cube(job["n_bands"], job["size"])
    return explain_fns(model, cube, leaf)[job["method"].replace("joint_", "focus_")], 0


def _is_focus(method: str) -> bool:
    return method.startswith(("focus_", "joint_"))


def measure(job: dict[str, Any]) -> dict[str, float]:
    """Run one measurement described by a JSON-able job (method, n_bands, size, backbone, …)."""
    fn, tokens = _job_fn(job)
    repeats = job.get("focus_repeats") or job["repeats"] if _is_focus(job["method"]) else job["repeats"]
    with PeakRSS() as peak:
        seconds = timed(fn, repeats)
    return {"seconds": seconds, "peak_mb": peak.peak_mb, "tokens": tokens}


def measure_together(jobs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Several FOCUS rows in one process: peak memory of one call each, then their times in turns
    (`timed_interleaved`), so that a change of load on a shared machine does not skew their ratios."""
    fns, out = {}, {}
    for job in jobs:
        fns[job["method"]], tokens = _job_fn(job)
        with PeakRSS() as peak:
            fns[job["method"]]()
        out[job["method"]] = {"peak_mb": peak.peak_mb, "tokens": tokens}
    base = jobs[0]
    for method, seconds in timed_interleaved(fns, base.get("focus_repeats") or base["repeats"]).items():
        out[method]["seconds"] = seconds
    return out


@functools.lru_cache(maxsize=2)
def _shared_cost_model(n_bands: int, backbone_json: str, n_groups: int, n_classes: int, joint: bool):
    """`cost_model`, built once per process for all its measurements (built before each PeakRSS starts, so
    outside what is measured); an isolated measurement's process builds its own."""
    return cost_model(n_bands, json.loads(backbone_json), n_groups, n_classes, joint=joint)


def measure_isolated(job: dict[str, Any]) -> dict[str, float]:
    """`measure` in a fresh Python process (no memory shared with earlier measurements)."""
    proc = subprocess.run([sys.executable, "-m", "napari_focus.bench.cost", json.dumps(job)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"cost measurement {job['method']} failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fit_predict(xs: list[float], ys: list[float], x: float) -> float:
    """y(x) from a non-negative fit y = a + b·x + c·x² (each point weighted by 1/y, so small sizes count).

    Cost grows with the token count x linearly (MLP, projections) and quadratically (attention); with
    non-negative coefficients the fit cannot bend down, which a free quadratic through noisy timings does.
    """
    from scipy.optimize import nnls

    xa, ya = np.asarray(xs, float), np.asarray(ys, float)
    if xa.size == 1:
        return float(ya[0] * x / xa[0])
    w = 1.0 / np.maximum(np.abs(ya), 1e-9)
    coef, _ = nnls(np.stack([np.ones_like(xa), xa, xa**2], 1) * w[:, None], ya * w)
    return float(coef @ np.array([1.0, x, x * x]))


def cost_cell(job_base: dict[str, Any], naive_bands: tuple[int, ...], naive_max_seconds: float,
              isolate: bool) -> dict[str, Any]:
    """Every row of the cost table for one cube size: measured, and the naive ViT measured or extrapolated."""
    run = measure_isolated if isolate else measure
    out: dict[str, Any] = {"rows": {}}
    if not isolate:  # one process: the FOCUS rows (per-group and joint) are timed in turns
        out["rows"] |= measure_together([{**job_base, "method": m} for m in MEASURED if _is_focus(m)])
    for method in MEASURED:
        if method not in out["rows"]:
            out["rows"][method] = run({**job_base, "method": method})
    out["rows"] = {m: out["rows"][m] for m in MEASURED}
    small = [run({**job_base, "method": "naive", "n_bands": b}) | {"n_bands": b}
             for b in naive_bands if b < job_base["n_bands"]]
    out["naive_small"] = small
    n_patch = (int(job_base["backbone"]["img_size"]) // int(job_base["backbone"]["patch_size"])) ** 2
    tokens = job_base["n_bands"] * n_patch
    pred_s = fit_predict([r["tokens"] for r in small], [r["seconds"] for r in small], tokens) if small else np.inf
    if pred_s <= naive_max_seconds or not small:
        out["rows"]["naive"] = run({**job_base, "method": "naive"}) | {"extrapolated": False}
    else:
        out["rows"]["naive"] = {"seconds": pred_s, "tokens": tokens, "extrapolated": True,
                                "peak_mb": fit_predict([r["tokens"] for r in small], [r["peak_mb"] for r in small],
                                                       tokens)}
    model = _shared_cost_model(job_base["n_bands"], json.dumps(job_base["backbone"], sort_keys=True),
                               job_base["n_groups"], job_base["n_classes"], False)
    trainable = sum(p.numel() for p in model.trainable_named().values())
    backbone = sum(p.numel() for p in model.backbone.parameters())
    out.update({"trainable_params": trainable, "backbone_params": backbone,
                "params_percent": 100 * trainable / backbone, "naive_tokens": tokens,
                "focus_tokens_per_sequence": n_patch})
    return out


def machine() -> dict[str, Any]:
    """Cores, CPU model, torch/timm versions: what a cost number depends on."""
    import platform

    import timm
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "torch": torch.__version__, "timm": timm.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
