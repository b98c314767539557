"""`napari-focus train | explain | evaluate`: the FOCUS core on the command line (progress with tqdm)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from napari_focus.arg_types import device, float_in, int_in
from napari_focus.errors import FocusError


def register(subparsers: Any) -> None:
    """Add the train, explain and evaluate subcommands."""
    t = subparsers.add_parser("train", help="train FOCUS prompts on a dataset folder and save a checkpoint")
    t.add_argument("--data", required=True, help="dataset folder (manifest.csv + ENVI cubes)")
    t.add_argument("--out", required=True, help="checkpoint folder to write")
    t.add_argument("--backbone", default=None, help="timm model name (with --backbone-file; no downloads)")
    t.add_argument("--backbone-file", default=None, help="local backbone weights (.safetensors) or backbone.json")
    t.add_argument("--img-size", type=int_in(8, 1024), default=None, help="backbone input size (DINOv2: 224)")
    t.add_argument("--groups", type=int_in(1, 512), default=10, help="number of spectral groups G (default 10)")
    t.add_argument("--epochs", type=int_in(1, 100_000), default=8)
    t.add_argument("--lr", type=float_in(0.0, 10.0, lo_open=True), default=3e-3)
    t.add_argument("--batch-size", type=int_in(1, 4096), default=8)
    t.add_argument("--sink-weight", type=float_in(0.0), default=1e-3, help="λ of the sink attraction loss")
    t.add_argument("--no-sink", action="store_true", help="no [SINK] token")
    t.add_argument("--seed", type=int_in(0, 2**32 - 1), default=0)
    t.add_argument("--fast", action="store_true",
                   help="train prompts + head only, against cached backbone keys/values (Φ, e_g, SINK stay at init)")
    t.add_argument("--views", type=int_in(1, 8), default=None, help="fast path: dihedral views cached per leaf (1-8)")
    t.add_argument("--prompt-std", type=float_in(0.0, 10.0), default=0.02,
                   help="spread of the initial prompts around CLS")
    t.add_argument("--spectral-contrast", type=float_in(0.0, 100.0), default=0.0,
                   help="first fit Φ's in-group spectral contrast on the training leaves at this strength (0: Φ "
                        "starts as each group's mean band, docs/method.md §3.3; the embedded models use 1)")
    t.add_argument("--contrast-bound", type=float_in(0.0, 1e4, lo_open=True), default=None,
                   help="cap each band's spectral-contrast change at this / |g| (|g|: its group's band count; "
                        "default: no cap)")
    t.add_argument("--contrast-gain-cap", type=float_in(0.0, 1e4, lo_open=True), default=None, metavar="C",
                   help="amplify no group's spectral contrast more than C × the median group's (a group whose "
                        "classes differ only at noise level inside it is not made a high-gain derivative; "
                        "default: no cap)")
    t.add_argument("--light-jitter-level", type=float_in(0.0, 1.0, lo_open=True), default=None, metavar="LOWEST",
                   help="see each training leaf under its own light level, drawn in LOWEST..1 (with "
                        "--light-jitter-tilt: and its own tilt), so the model cannot read its class from the light")
    t.add_argument("--light-jitter-tilt", type=float_in(0.0, 1.5, hi_open=True), default=None, metavar="TILT",
                   help="see each training leaf under its own spectral tilt, drawn in ±TILT (0.3: up to 30 %% more "
                        "light at the last band than at the first)")
    t.add_argument("--device", type=device, default=None, help="cuda, mps or cpu (default: best available)")
    t.add_argument("--restart", action="store_true",
                   help="discard the state an interrupted run left in OUT.partial/ and train from epoch 0 (by default "
                        "the same command resumes after its last finished epoch; other settings or data are refused)")
    t.set_defaults(func=_train)

    e = subparsers.add_parser("explain", help="explain one cube (saliency cube, curve.csv, PNGs, prediction.json), "
                                               "or a folder / glob of cubes (one output folder each + summary.csv)")
    e.add_argument("cube", help="a hyperspectral cube file, or a folder or quoted glob of cubes (batch)")
    e.add_argument("--model", default=None, help="checkpoint folder (default: the embedded model)")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--class", dest="class_name", default=None, help="class to explain (default: predicted)")
    e.add_argument("--method", default="focus", choices=["focus", "gradxinput", "gradcam"])
    e.add_argument("--rule", default=None, help="FOCUS saliency rule (default: the model's)")
    e.add_argument("--refine", action="store_true",
                   help="refine the band curve with more forward passes: the heaviest groups' bands shared by what "
                        "healing each ~10 nm window of the leaf's deviating pixels costs the class (a blind curve; "
                        "otherwise each group weighed against the leaf at its median spectrum); 3-10 times as long")
    e.add_argument("--device", type=device, default=None)
    e.add_argument("--tile", type=_tile_arg, default="auto",
                   help="tiled explain: a tile size in pixels, 'off', or 'auto' (default: tiles of the model's "
                        "input size when the cube's longer side exceeds 4 model inputs)")
    e.add_argument("--overlap", type=float_in(0.0, 1.0, hi_open=True), default=0.25,
                   help="tile overlap, a fraction of a tile (default 0.25)")
    e.add_argument("--labels", default=None, help="a .npy leaf mask or label image: one tile per leaf (one cube)")
    e.add_argument("--white", default=None, help="white reference (ENVI header) to calibrate raw counts (one cube)")
    e.add_argument("--dark", default=None, help="dark reference (ENVI header), with --white")
    e.add_argument("--saliency-dtype", default="float32", choices=["float32", "float16", "none"],
                   help="the saliency cube, as large as the input: float32 (ENVI), float16 (half the size, as "
                        "saliency.npy with its wavelengths beside it; 3 significant digits, and values below 6e-5 "
                        "keep fewer) or none (the map and the curve only)")
    e.add_argument("--workers", type=int_in(0, 256), default=0,
                   help="batch on a Dask LocalCluster of N worker processes")
    e.add_argument("--scheduler", default=None, help="batch on an existing Dask cluster (scheduler address)")
    e.set_defaults(func=_explain)

    v = subparsers.add_parser("evaluate", help="docs/method.md §4 metrics of a checkpoint on a dataset, as JSON")
    v.add_argument("--data", required=True)
    v.add_argument("--model", required=True)
    v.add_argument("--split", default="test")
    v.add_argument("--method", default="focus", choices=["focus", "gradxinput", "gradcam"])
    v.add_argument("--rule", default=None)
    v.add_argument("--max-items", type=int_in(1), default=None)
    v.add_argument("--device", type=device, default=None)
    v.set_defaults(func=_evaluate)


def _bar(desc: str, lines_in_logs: bool = False):
    """A tqdm bar as a `progress(step, total, info)` callback; `lines_in_logs`: the caller logs a line per
    epoch, so when stderr is a file (nohup ... > log 2>&1) the step bar stays off and the lines show progress."""
    from tqdm import tqdm

    state: dict[str, Any] = {}
    tty = sys.stderr.isatty()
    interval = 0.1 if tty else 30.0  # in a log file, a bar redrawn ten times a second is noise

    def progress(step: int, total: int, info: dict[str, Any]) -> None:
        if info.get("stage") == "resumed":
            _say(f"{desc}: resuming after epoch {info['epoch']}/{info['of']} (state saved by an interrupted run)")
            return
        if info.get("stage") == "training" and "loss" not in info:  # the epochs start: nothing to draw yet
            return
        if info.get("stage") == "caching":  # the fast path's one-off pass over the frozen backbone
            if "cache" not in state:
                state["cache"] = tqdm(total=info["of"], desc="cache backbone", unit="batch", leave=False,
                                      mininterval=interval)
            state["cache"].update(info["done"] - state["cache"].n)
            if info["done"] >= info["of"]:
                state["cache"].close()
            return
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc=desc, unit="step", leave=False, mininterval=interval,
                                initial=step - 1, disable=lines_in_logs and not tty)
        bar = state["bar"]
        bar.update(step - bar.n)
        if "loss" in info:
            bar.set_postfix(epoch=info.get("epoch"), loss=f"{info['loss']:.3f}", refresh=False)
        if step >= total:
            bar.close()

    return progress


def _say(msg: str) -> None:
    """One timestamped line on stderr, between tqdm bars (what a background run's log shows)."""
    from tqdm import tqdm

    tqdm.write(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr)


class _EpochLog:
    """The `on_epoch` callback that logs each epoch's loss, held-out score, duration and the time left.

    `watch(progress)` wraps the step callback to see when the epochs start (train's `{"stage": "training"}`
    mark), so that reading the leaves and the fast path's cache count in no epoch: an estimate from a first
    epoch that included the cache was many times too long."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.last = time.perf_counter()  # until train marks the epochs' start
        self.laps: list[float] = []

    def watch(self, progress: Any) -> Any:
        def watched(step: int, total: int, info: dict[str, Any]) -> None:
            if info.get("stage") == "training" and "loss" not in info:
                self.last = time.perf_counter()
            progress(step, total, info)

        return watched

    def __call__(self, epoch: int, loss: float, val: float | None) -> None:
        now = time.perf_counter()
        lap, self.last = now - self.last, now
        self.laps.append(lap)
        held = f", held-out {val:.3f}" if val is not None else ""
        left = f", ~{_duration(sum(self.laps) / len(self.laps) * (self.epochs - epoch))} left" \
            if epoch < self.epochs else ""
        _say(f"train: epoch {epoch}/{self.epochs} loss {loss:.4f}{held} ({lap:.1f} s{left})")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _time_report(hist: Any) -> str:
    """What the training time covers: this run's setup and epochs apart, and earlier interrupted runs."""
    epochs = len(hist.epoch_seconds)
    text = (f"{_duration(hist.seconds - hist.earlier_seconds)} in this run: {hist.setup_seconds:.1f} s reading, "
            f"calibrating and caching, {sum(hist.epoch_seconds):.1f} s for {epochs} epoch{'s' * (epochs != 1)}")
    if hist.resumed_from:
        text += (f" (after epoch {hist.resumed_from}), and {_duration(hist.earlier_seconds)} in interrupted runs "
                 "before it")
    return text


def _train(args: argparse.Namespace) -> int:
    from napari_focus.outputs import check_train_out

    check_train_out(args.out)  # before the data is read or torch imported: a refusal costs nothing
    from napari_focus.dataset import load_dataset
    from napari_focus.training_set import check_labels

    ds = load_dataset(args.data)
    train_items = ds.split("train")
    if not train_items:
        raise FocusError(f"{args.data}: no items with split 'train'")
    task = "regression" if ds.is_regression else "classification"
    classes = [ds.ground_truth.get("trait") or "trait"] if task == "regression" else ds.classes
    labels = [it.target for it in train_items if it.target is not None] if task == "regression" else \
        [it.label for it in train_items]
    try:  # a held-out score of a one-class model means nothing: refuse as the Fine-tune dock does
        check_labels(task, labels, classes if task == "classification" else ())
    except FocusError as e:
        raise FocusError(f"{args.data}: training split: {e}") from None
    import torch

    from napari_focus.focus.checkpoint import save_checkpoint
    from napari_focus.focus.device import select_device
    from napari_focus.focus.factory import backbone_spec, new_model
    from napari_focus.focus.light_jitter import LightJitter
    from napari_focus.focus.resume import clear_state, state_dir_for
    from napari_focus.focus.train import train

    first = train_items[0].cube()
    spec = backbone_spec(args.backbone, args.backbone_file, args.img_size)
    torch.manual_seed(args.seed)
    model = new_model(spec, first.n_bands, first.wavelengths_nm, classes, task=task, n_groups=args.groups,
                      good_bands=first.good_bands, use_sink=not args.no_sink, seed=args.seed,
                      prompt_std=args.prompt_std)
    model.to(select_device(args.device))
    test_items = ds.split("test")
    partial = state_dir_for(args.out)
    _say(f"train: {len(train_items)} leaves, {args.epochs} epochs{' (fast path)' if args.fast else ''}; "
         f"state after each epoch in {partial}")
    log = _EpochLog(args.epochs)
    hist = train(model, train_items, epochs=args.epochs, lr=args.lr, sink_weight=args.sink_weight,
                 batch_size=args.batch_size, seed=args.seed, val=test_items or None,
                 progress=log.watch(_bar("train", lines_in_logs=True)), fast=args.fast, cache_views=args.views,
                 on_epoch=log, resume_dir=partial, restart=args.restart,
                 spectral_contrast=args.spectral_contrast, contrast_bound=args.contrast_bound,
                 contrast_gain_cap=args.contrast_gain_cap,
                 light_jitter=LightJitter.from_options(args.light_jitter_level, args.light_jitter_tilt))
    folder = save_checkpoint(model.cpu(), args.out)
    clear_state(partial)
    _say(f"train: saved {folder} ({_time_report(hist)})")
    print(json.dumps({"checkpoint": str(folder), "model_sha256": model.checkpoint_sha256, "classes": model.classes,
                      "groups": list(model.groups.names), "loss": hist.loss, "held_out_score": hist.val_score,
                      "seconds": round(hist.seconds, 2), "seconds_setup": round(hist.setup_seconds, 2),
                      "seconds_epochs": round(sum(hist.epoch_seconds), 2),
                      "seconds_earlier_runs": round(hist.earlier_seconds, 2)}))
    return 0


def _load(model_dir: str | None, device: str | None):
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.device import select_device

    if model_dir is None:
        from napari_focus.explain_job import default_checkpoint

        model_dir = default_checkpoint()
    return load_checkpoint(model_dir, device=select_device(device))


def _tile_arg(value: str) -> str | int:
    if value in ("auto", "off"):
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"--tile takes a size in pixels, 'auto' or 'off', not {value!r}")


def _explain(args: argparse.Namespace) -> int:
    from napari_focus.batch import is_batch_input
    from napari_focus.outputs import check_out

    check_out(args.out, "result")  # before any cube is read or torch imported

    if (args.white is None) != (args.dark is None):
        raise FocusError("--white and --dark go together: a raw cube is calibrated with both references")
    if args.refine and args.method != "focus":
        raise FocusError(f"--refine refines FOCUS's curve; the {args.method} method has nothing to refine")
    if is_batch_input(args.cube):
        return _explain_batch(args)
    if args.workers or args.scheduler:
        raise FocusError("--workers and --scheduler apply to a folder or glob of cubes, not one file")
    import numpy as np

    from napari_focus.cube_io import read_cube
    from napari_focus.explain_job import check_cube, check_cube_for_model, checkpoint_bands, default_checkpoint
    from napari_focus.input_check import add_input_notes, check_input, input_notes

    cube = read_cube(args.cube, white=args.white, dark=args.dark)
    _say_saliency_size(cube.shape, args.saliency_dtype)
    model_dir = args.model if args.model is not None else default_checkpoint(cube)
    try:  # the cube first, against the checkpoint's config.json: a refusal costs no torch, no model
        check_cube(cube, *(checkpoint_bands(model_dir) or ()))
    except FocusError as e:
        raise FocusError(f"{args.cube}: {e}") from None
    cube = check_input(cube, args.cube)  # raw counts, values that are not reflectance, blank or tiny frames
    labels = None
    if args.labels:
        try:
            labels = np.load(args.labels, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise FocusError(f"{args.labels}: not a readable .npy label image ({e})") from None
        labels = labels.astype(np.int32) if labels.dtype != bool else labels
    from napari_focus.export import export_explanation
    from napari_focus.focus.tiled import explain_scene

    model = _load(model_dir, args.device)
    try:
        check_cube_for_model(cube, model)
    except FocusError as e:
        raise FocusError(f"{args.cube}: {e}") from None
    for note in input_notes(cube):  # once nothing can be refused any more: a refusal stays one line
        print(f"napari-focus: note: {args.cube}: {note}", file=sys.stderr)
    rule = _rule(args, model.saliency_rule)
    exp = explain_scene(model, cube, class_index=args.class_name, method=args.method, rule=rule, tile=args.tile,
                        overlap=args.overlap, leaf_mask=labels if labels is not None and labels.dtype == bool else None,
                        labels=labels if labels is not None and labels.dtype != bool else None, progress=_bar("tiles"))
    export_explanation(add_input_notes(exp, cube), args.out, list(model.classes), model=model,
                       saliency=args.saliency_dtype)
    res = {"out": str(args.out), "predicted": exp.predicted, "explained_class": exp.class_name}
    if getattr(exp, "tiles", None):
        res["tiles"] = len(exp.tiles)
    print(json.dumps(res))
    return 0


def _say_saliency_size(shape: Any, dtype: str, cubes: int = 1) -> None:
    """Before any model work: how large the saliency cube(s) will be, and the smaller formats, when large."""
    from napari_focus.export import SALIENCY_WARN_BYTES, saliency_bytes

    size = saliency_bytes(shape, dtype) * cubes
    if size > SALIENCY_WARN_BYTES:
        each = " (each cube's as large)" if cubes > 1 else ""
        _say(f"explain: the saliency cube will take {size / 1e9:.1f} GB on disk as {dtype}{each}; "
             + ("--saliency-dtype float16 halves it, " if dtype == "float32" else "")
             + "--saliency-dtype none writes the map and the curve only")


def _rule(args: argparse.Namespace, model_rule: str | None) -> str | None:
    """`--rule`, or with `--refine` its refinement (of the model's rule when `--rule` is not given)."""
    if not args.refine:
        return args.rule
    from napari_focus.focus.readout import refined_rule

    return refined_rule(args.rule or model_rule)


def _explain_batch(args: argparse.Namespace) -> int:
    import sys

    from napari_focus.batch import make_job, run_batch

    if args.labels:
        raise FocusError("--labels applies to one cube, not a batch")
    if args.white:
        raise FocusError("--white and --dark apply to one cube, not a batch")
    if args.model is None:  # chosen by the cubes' wavelengths, as for one cube (read lazily: no torch yet)
        from napari_focus.batch import find_cubes
        from napari_focus.explain_job import checkpoint_for_cubes

        args.model = str(checkpoint_for_cubes(find_cubes(args.cube, exclude=args.out)))
    from napari_focus.focus.checkpoint import read_config

    rule = _rule(args, read_config(args.model).get("saliency_rule"))
    job = make_job(args.model, method=args.method, rule=rule, class_name=args.class_name, tile=str(args.tile),
                   overlap=args.overlap, device=args.device, saliency=args.saliency_dtype)
    # the model loads once, after the first cube that passes its checks (a batch of refused cubes loads none)
    res = run_batch(args.cube, args.out, job, workers=args.workers, scheduler=args.scheduler,
                    progress=_bar("explain"))
    print(json.dumps(res))
    if res["failed"]:
        print(f"napari-focus: {res['failed']} of {res['cubes']} cubes failed (see {res['summary']})", file=sys.stderr)
        return 1
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from napari_focus.dataset import load_dataset
    from napari_focus.focus.evaluate import evaluate

    ds = load_dataset(args.data)
    model = _load(args.model, args.device)
    res = evaluate(model, ds, split=args.split, rule=args.rule, method=args.method, max_items=args.max_items,
                   progress=_bar("evaluate"))
    print(json.dumps(res))
    return 0
