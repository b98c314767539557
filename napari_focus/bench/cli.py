"""`napari-focus bench`: run (or resume) the benchmark and write its block of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from napari_focus.errors import FocusError

#: In the repository, so a sitting on a fresh checkout resumes: the cells (JSON) and the trained models (≈ 220 kB
#: each) are committed; the simulated leaves and random backbones under it regenerate from their seeds (.gitignore).
DEFAULT_CACHE = "benchmarks/cache"


def register(subparsers: Any) -> None:
    """Add the `bench` subcommand."""
    b = subparsers.add_parser(
        "bench", help="FOCUS vs Grad-CAM, Prompt-CAM-style and chemometrics on simulated leaves",
        description="Compute the benchmark's cells (cached as JSON; a rerun resumes) and write the tables between "
                    "the bench markers of the output file.")
    size = b.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smoke check of every table (≤ 10 min on 2 cores)")
    size.add_argument("--smoke", action="store_true", help="seconds-long configuration for tests (tiny data)")
    b.add_argument("--out", default=None,
                   help="markdown file to write the block into (default: docs/benchmarks.md for the full run, "
                        "docs/bench_quick.md for --quick and --smoke, so a smoke check never replaces the full tables)")
    b.add_argument("--cache", default=DEFAULT_CACHE,
                   help="cache folder (cells and trained models: committed; simulated data, random backbones: not)")
    b.add_argument("--backbone-file", default=None, help="backbone.json (default: the embedded backbone)")
    b.add_argument("--threads", type=int, default=None, help="torch threads (default: the preset's)")
    b.add_argument("--max-minutes", type=float, default=None,
                   help="start no new cell after this many minutes (rerun to resume)")
    b.add_argument("--render-only", action="store_true", help="only render the cells already in the cache")
    b.add_argument("--part", choices=("all", "other-datasets", "main-tail"), default="all",
                   help="a second process beside a sitting, writing cells and no tables: other-datasets computes "
                        "Table I of the datasets after the main one, last first; main-tail the main dataset's "
                        "training tables from their far end (claims keep the two off each other's cells)")
    b.set_defaults(func=run)


def _command(args: argparse.Namespace) -> str:
    parts = ["napari-focus", "bench"] + (["--quick"] if args.quick else []) + (["--smoke"] if args.smoke else [])
    for flag, default in (("out", None), ("cache", DEFAULT_CACHE), ("backbone_file", None),
                          ("threads", None), ("max_minutes", None)):
        val = getattr(args, flag)
        if val != default:
            parts += [f"--{flag.replace('_', '-')}", str(val)]
    return " ".join(parts + (["--render-only"] if args.render_only else []))


def run(args: argparse.Namespace) -> int:
    import torch

    from napari_focus.bench import run as collect
    from napari_focus.bench.cells import CellCache, check_cache_dir
    from napari_focus.bench.config import preset
    from napari_focus.bench.tables import render, write_block

    cfg = preset("quick" if args.quick else "smoke" if args.smoke else "full")
    if args.backbone_file:
        if not Path(args.backbone_file).is_file():
            raise FocusError(f"backbone file not found: {args.backbone_file}")
        cfg = cfg.with_(backbone_file=str(Path(args.backbone_file).resolve()))
    if args.threads:
        cfg = cfg.with_(threads=args.threads)
    torch.set_num_threads(cfg.threads)
    t0, load0 = time.monotonic(), _load()
    deadline = t0 + 60 * args.max_minutes if args.max_minutes else None
    cache = CellCache(check_cache_dir(args.cache), compute=not args.render_only, deadline=deadline,
                      log=lambda m: print(f"[{time.monotonic() - t0:7.1f} s] {m}", file=sys.stderr, flush=True))
    if args.part != "all":
        (collect.collect_other_datasets if args.part == "other-datasets" else collect.collect_main_tail)(cache, cfg)
        stopped = f"; stopped before {cache.stopped}" if cache.stopped else ""
        print(f"{len(cache.computed)} cells computed, {len(cache.reused)} reused, "
              f"{(time.monotonic() - t0) / 60:.1f} min{stopped}")
        return 0
    res = collect.collect(cache, cfg)
    wall = time.monotonic() - t0
    sitting = f"wall {wall / 60:.1f} min, CPU {_cpu_seconds() / 60:.1f} min, load average {load0} → {_load()}"
    block = render(cfg, res, header(cfg, cache, _command(args), sitting))
    out = write_block(args.out or default_out(cfg.name), block)
    done = "stopped before " + cache.stopped + " (rerun to resume)" if cache.stopped else "complete"
    print(f"{out}: {len(cache.computed)} cells computed, {len(cache.reused)} reused, {wall / 60:.1f} min; {done}")
    return 0


def default_out(preset_name: str) -> str:
    """Where a preset's tables go: only the full run writes docs/benchmarks.md."""
    return "docs/benchmarks.md" if preset_name == "full" else "docs/bench_quick.md"


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def _cpu_seconds() -> float:
    """User + system time of this process and its finished children (the isolated cost measurements)."""
    import resource

    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def header(cfg, cache, command: str, sitting: str) -> list[str]:
    """The block's first lines: what was run, where, on what data, with which training settings."""
    from napari_focus.bench.cost import machine
    from napari_focus.bench.runs import backbone_config
    from napari_focus.focus.recipe import CURVE_RECIPE, RECIPE

    m = machine()
    bb = backbone_config(cfg)
    recs = list(cache.touched.values())
    longest = max(recs, key=lambda r: r["seconds"], default=None)
    kinds: dict[str, list[float]] = {}
    for r in recs:
        kinds.setdefault(r["config"]["kind"], []).append(r["seconds"])
    per_kind = ", ".join(f"{k} {len(v)} × ≤ {max(v) / 60:.1f} min" for k, v in sorted(kinds.items()))
    if cfg.name == "full":
        title = "### Generated by `napari-focus bench` (the full benchmark)"
    else:
        what = "QUICK SMOKE CONFIGURATION" if cfg.name == "quick" else "TEST-SUITE SMOKE CONFIGURATION"
        title = f"### Generated by `napari-focus bench --{cfg.name}`: the {what}, not the benchmark"
    lines = [title, ""]
    if cfg.name != "full":
        epochs = cfg.fit_overrides.get("epochs", RECIPE["epochs"])
        lines += [f"**Tiny data, {len(cfg.seeds)} seed(s), {epochs} training epoch(s), a subset of rows: these numbers "
                  "check that every table is produced end to end; they do not measure FOCUS.**", ""]
    d = ", ".join(s.label for s in cfg.datasets)
    seeds = list(cfg.seeds)
    lines += [
        f"- Command: `{command}` · date {time.strftime('%Y-%m-%d %H:%M')} · this sitting: {sitting}"
        + (f" · **stopped before {cache.stopped}** (rerun to resume)" if cache.stopped else ""),
        f"- Machine: {m['cores']} cores, {m['cpu']}, {m['gpu'] or 'no GPU'}, torch {m['torch']}, timm {m['timm']}, "
        f"{cfg.threads} torch threads",
        f"- Data (`napari_focus.simulate`, {cfg.size} px leaves): {d}. Run seeds {seeds}: run seed s trains on "
        f"{cfg.n_train} leaves of simulator seed {cfg.train_data_seed} + s (the simulator's own ~80/20 "
        "train/validation split; validation is only monitored); every seed is judged on the same "
        f"{cfg.n_heldout} held-out leaves of simulator seed {cfg.heldout_seed}, never used for training or tuning; "
        f"the readout is chosen on {cfg.n_heldout} tuning leaves of simulator seed {cfg.tuning_seed} (Table II).",
        f"- Backbone (frozen): {bb['name'] or 'timm VisionTransformer'} {bb['kwargs']}, SHA-256 "
        f"`{(bb['sha256'] or '')[:12]}…`. FOCUS: G = {cfg.default_groups}, SINK λ = {cfg.default_sink_weight:g} "
        "unless the table varies them; readouts: default, paper-literal and the one Table II chooses (`readout.py`).",
        f"- Training: `napari_focus.focus.recipe.fit`. The curve tables' models (Table I of {cfg.main.label}, "
        f"Table II, the sanity checks) with the shipped VNIR checkpoint's recipe {CURVE_RECIPE}; every other model "
        f"with the full-path recipe {RECIPE}" + (f"; both overridden by {cfg.fit_overrides}" if cfg.fit_overrides
                                                  else "") + ".",
        f"- Cells shown: {len(recs)} ({len(cache.computed)} computed in this sitting, the rest from the cache), "
        f"{sum(r['seconds'] for r in recs) / 60:.1f} min of compute stored in them; {per_kind}"
        + (f"; longest: {longest['label']} ({longest['seconds'] / 60:.1f} min)" if longest else "")
        + ".",
        "",
    ]
    return lines
