"""Training FOCUS (docs/method.md §3.6–3.7): only the trainable tensors get gradients; progress and cancel are
arguments, so the CLI (tqdm) and the GUI (a worker) share this one loop. A cancelled or failed run
leaves the model exactly as it was before; with `resume_dir` it saves its state after every epoch and a
rerun continues from there (`focus.resume`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from napari_focus.focus.background import fit_background
from napari_focus.focus.device import autocast
from napari_focus.focus.inputs import tensors_from
from napari_focus.focus.light_jitter import LightJitter
from napari_focus.focus.resume import Resumer, fingerprint

Progress = Callable[[int, int, dict[str, Any]], None]


@dataclass
class TrainHistory:
    """Per-epoch training loss (task + sink), sink mass and held-out score; whether it was cancelled;
    `resumed_from`: epochs an earlier, interrupted run had finished.

    Time is kept apart so that a report can say what it covers: `setup_seconds` is this run's reading,
    calibration and caching before its first epoch (the fast path's cache can take longer than all epochs),
    `epoch_seconds` this run's epochs, `earlier_seconds` what interrupted runs had spent up to their last saved
    epoch, and `seconds` everything: this run from start to end (the margin reference after the last epoch
    included) plus `earlier_seconds`."""

    loss: list[float] = field(default_factory=list)
    sink_mass: list[float] = field(default_factory=list)
    val_score: list[float] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0
    resumed_from: int = 0
    setup_seconds: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)
    earlier_seconds: float = 0.0

    def seconds_left(self, epochs: int) -> float | None:
        """The remaining epochs' time, from this run's epochs alone (None before the first one ends)."""
        if not self.epoch_seconds:
            return None
        done = self.resumed_from + len(self.epoch_seconds)
        return sum(self.epoch_seconds) / len(self.epoch_seconds) * max(0, epochs - done)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random flips and 90° rotations per sample (leaves have no up)."""
    out = []
    for xi in x:
        k = int(torch.randint(0, 4, (1,), generator=gen))
        xi = torch.rot90(xi, k, dims=(-2, -1))
        if torch.rand(1, generator=gen).item() < 0.5:
            xi = xi.flip(-1)
        out.append(xi)
    return torch.stack(out)


def _snapshot(model) -> dict[str, torch.Tensor]:
    state = {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("backbone.")}
    state.update({n: b.detach().clone() for n, b in model.named_buffers() if not n.startswith("backbone.")})
    return state


def _restore(model, state: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for n, t in list(model.named_parameters()) + list(model.named_buffers()):
            if n in state:
                t.copy_(state[n])


def task_loss(model, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if model.task == "classification":
        return F.cross_entropy(logits.float(), y)
    return F.mse_loss(logits[:, 0].float(), (y.float() - model.target_mean) / model.target_std)


def score(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 16) -> float:
    """Held-out accuracy (classification) or R² (regression)."""
    device = next(model.parameters()).device
    preds = []
    with torch.inference_mode(), autocast(device):
        for s in range(0, len(x), batch_size):
            preds.append(model.predict_values(model(x[s : s + batch_size].to(device)).logits).cpu())
    return _score_values(model, torch.cat(preds), y)


def _score_values(model, p: torch.Tensor, y: torch.Tensor) -> float:
    if model.task == "classification":
        return float((p.argmax(1) == y).float().mean())
    yt = y.float()
    ss = float(((yt - yt.mean()) ** 2).sum())
    return 1.0 - float(((p[:, 0] - yt) ** 2).sum()) / max(ss, 1e-12)


def train(
    model,
    data: Any,
    epochs: int = 10,
    lr: float = 3e-3,
    sink_weight: float = 1e-3,
    batch_size: int = 8,
    seed: int = 0,
    augment_views: bool = True,
    fast: bool = False,
    val: Any = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    weight_decay: float = 1e-4,
    on_epoch: Callable[[int, float, float | None], None] | None = None,
    cache_views: int | None = None,
    resume_dir: str | Path | None = None,
    restart: bool = False,
    spectral_contrast: float = 0.0,
    contrast_bound: float | None = None,
    contrast_gain_cap: float | None = None,
    light_jitter: LightJitter | None = None,
) -> TrainHistory:
    """Train the trainable tensors (docs/method.md §3.7) (`fast`: prompts + head only); returns the history.

    `progress(step, total, info)` is called after every batch; `should_stop()` is polled before
    every batch and, when true, restores the model's previous state and returns `cancelled=True`.
    `on_epoch(epoch, loss, val_score or None)` is called after every epoch (the GUI's live plot).
    `resume_dir`: a folder for the run's state after every epoch; a rerun with the same model, data and
    settings continues after its last finished epoch (reported as `progress(step, total, {"stage":
    "resumed", "epoch": k, "of": epochs})`) and ends with the same weights; anything else raises FocusError
    unless `restart` (which discards it). The state stays after success: the caller removes it
    (`resume.clear_state`) once the result is saved, so a crash while saving loses no training.
    `spectral_contrast` > 0: first fit Φ's in-group spectral contrast at that strength
    (`spectral_contrast.fit_spectral_contrast`; deterministic, so a resumed run refits the same Φ), its gain
    bounded by `contrast_bound` / |g| per band (None: unbounded), each group's amplification at most
    `contrast_gain_cap` × the median group's (None: uncapped).
    `light_jitter`: scale each training leaf by its own light level and tilt (drawn from `seed`) before anything
    else sees it, the contrast fit and the margin reference included (light_jitter.py); the validation leaves
    are left as they are.
    Last, the calibrated readout's per-group margin reference is measured on the training leaves (reference.py),
    and their median background spectrum, which the model then sees outside every leaf (background.py). The
    training leaves themselves are seen as they are.
    """
    t0 = time.perf_counter()
    before = _snapshot(model)
    hist = TrainHistory()
    try:
        x, y = tensors_from(model, data, outside_leaf=False)
        xv, yv = tensors_from(model, val) if val is not None else (None, None)
        if light_jitter is not None:
            if isinstance(data, tuple) and x is data[0]:
                x = x.clone()  # the caller's tensor stays as it was
            light_jitter.apply_(x, model.wavelengths_nm, seed)
        if spectral_contrast:
            from napari_focus.focus.spectral_contrast import fit_spectral_contrast

            fit_spectral_contrast(model, x, y, spectral_contrast, bound=contrast_bound, gain_cap=contrast_gain_cap)
        resumer = Resumer(None)
        if resume_dir is not None:
            settings = dict(epochs=epochs, lr=lr, sink_weight=sink_weight, batch_size=batch_size, seed=seed,
                            augment_views=augment_views, fast=fast, weight_decay=weight_decay, cache_views=cache_views,
                            spectral_contrast=spectral_contrast,
                            **({"contrast_bound": contrast_bound} if contrast_bound is not None else {}),
                            **({"contrast_gain_cap": contrast_gain_cap} if contrast_gain_cap is not None else {}),
                            **({"light_jitter": light_jitter.to_dict()} if light_jitter is not None else {}))
            fp = fingerprint(model, settings, {"x": x, "y": y, "xv": xv, "yv": yv})
            resumer = Resumer(resume_dir, fp, restart=restart)
            _restore(model, resumer.model_state())
            hist.resumed_from = resumer.epoch
        args = (model, x, y, xv, yv, hist, epochs, lr, sink_weight, batch_size, seed, augment_views, fast, progress,
                should_stop, weight_decay)
        hist.earlier_seconds = resumer.seconds  # read now: each save below makes it this run's running total
        clock = (t0, hist.earlier_seconds)
        if fast:
            _train_loop_cached(*args, on_epoch=on_epoch, cache_views=cache_views, resumer=resumer, clock=clock)
        else:
            _train_loop(*args, on_epoch=on_epoch, resumer=resumer, clock=clock)
        if not hist.cancelled:
            from napari_focus.focus.reference import fit_margin_reference

            hist.cancelled = fit_margin_reference(model, x, y, should_stop=should_stop) is None
        if not hist.cancelled:
            fill = fit_background(x, model.wavelengths_nm)  # leaves that show no background keep the model's fill
            model.background_fill = model.background_fill if fill is None else fill
            model.canonical_background = model.background_fill is not None
    except BaseException:
        _restore(model, before)
        raise
    if hist.cancelled:
        _restore(model, before)
    model.eval()
    hist.seconds = time.perf_counter() - t0 + hist.earlier_seconds
    return hist


def _start(resumer: Resumer, opt, gen, hist, progress: Progress | None, epochs: int, steps_per_epoch: int,
           clock: tuple[float, float]) -> int:
    """The first epoch to run: 0, or after the last one an interrupted run finished (then said on progress).
    Ends the setup's clock and says on progress that the epochs start (`{"stage": "training"}`, no loss)."""
    start = resumer.restore_run(opt, gen, hist)
    if start and progress is not None:
        progress(start * steps_per_epoch, epochs * steps_per_epoch, {"stage": "resumed", "epoch": start, "of": epochs})
    hist.setup_seconds = time.perf_counter() - clock[0]
    if progress is not None:
        progress(start * steps_per_epoch, epochs * steps_per_epoch, {"stage": "training", "epoch": start})
    return start


def _end_epoch(resumer: Resumer, epoch: int, model, opt, gen, hist, clock: tuple[float, float]) -> None:
    """Time the epoch; save the state after `epoch` (0-based) if resuming; `clock`: (this call's start, earlier
    runs' seconds)."""
    hist.epoch_seconds.append(time.perf_counter() - clock[0] - hist.setup_seconds - sum(hist.epoch_seconds))
    if resumer.folder is not None:
        resumer.save(epoch + 1, _snapshot(model), opt, gen, hist, time.perf_counter() - clock[0] + clock[1])


def _prepare(model, x, y, fast, lr, weight_decay):
    """Calibrate once (normalisation, H_aux, regression target scale), then an optimiser over the trainables."""
    device = next(model.parameters()).device
    if model.task == "regression" and not bool(model.calibrated):
        model.target_mean.fill_(float(y.float().mean()))
        model.target_std.fill_(max(float(y.float().std()) if len(y) > 1 else 1.0, 1e-6))
    if not bool(model.calibrated):
        model.calibrate(x[: min(8, len(x))].to(device))
    params = model.trainable_named(fast=fast)
    for n, p in model.named_parameters():
        p.requires_grad_(n in params)
    return torch.optim.AdamW(list(params.values()), lr=lr, weight_decay=weight_decay)


def _descend(opt, loss: torch.Tensor, progress: Progress | None, step: int, total: int, epoch: int) -> float:
    """One optimiser step on `loss`; reports progress; returns the loss value."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    value = float(loss.detach())
    if progress is not None:
        progress(step, total, {"epoch": epoch + 1, "loss": value})
    return value


def _train_loop(model, x, y, xv, yv, hist, epochs, lr, sink_weight, batch_size, seed, augment_views, fast,
                progress, should_stop, weight_decay, on_epoch=None, resumer=None, clock=(0.0, 0.0)) -> None:
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(int(seed))
    opt = _prepare(model, x, y, fast, lr, weight_decay)
    n = len(x)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    total = epochs * steps_per_epoch
    use_sink = model.use_sink and sink_weight > 0
    resumer = resumer or Resumer(None)
    start = _start(resumer, opt, gen, hist, progress, epochs, steps_per_epoch, clock)
    step = start * steps_per_epoch
    for epoch in range(start, epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        tot, tot_sink = 0.0, 0.0
        for s in range(0, n, batch_size):
            if should_stop is not None and should_stop():
                hist.cancelled = True
                return
            idx = order[s : s + batch_size]
            xb = augment(x[idx], gen) if augment_views else x[idx]
            with autocast(device):
                out = model(xb.to(device), sink_loss=use_sink)
            loss = task_loss(model, out.logits, y[idx].to(device))
            sm = out.sink_mass if use_sink else None
            if sm is not None:
                loss = loss - sink_weight * sm.float()
                tot_sink += float(sm.detach()) * len(idx)
            tot += _descend(opt, loss, progress, step := step + 1, total, epoch) * len(idx)
        hist.loss.append(tot / n)
        hist.sink_mass.append(tot_sink / n)
        model.eval()
        if xv is not None:
            hist.val_score.append(score(model, xv, yv))
        _end_epoch(resumer, epoch, model, opt, gen, hist, clock)
        if on_epoch is not None:
            on_epoch(epoch + 1, hist.loss[-1], hist.val_score[-1] if xv is not None else None)
    for p in model.parameters():
        p.requires_grad_(False)


def _train_loop_cached(model, x, y, xv, yv, hist, epochs, lr, sink_weight, batch_size, seed, augment_views, fast,
                       progress, should_stop, weight_decay, on_epoch=None, cache_views=None, resumer=None,
                       clock=(0.0, 0.0)) -> None:
    """Prompts + head against cached backbone keys/values (fast_train); SINK is frozen, so no sink loss."""
    from napari_focus.focus import fast_train as ft

    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(int(seed))
    opt = _prepare(model, x, y, True, lr, weight_decay)
    views = (cache_views or ft.views_for_budget(model, len(x))) if augment_views else 1
    n = len(x)
    steps_per_epoch = (n + batch_size - 1) // batch_size
    total = epochs * steps_per_epoch

    def cache_progress(i: int, t: int, info: dict) -> None:
        if progress is not None:
            progress(0, total, {"stage": "caching", "done": i, "of": t})

    # float32 when it fits in 2 GB: no per-batch conversion (small user sets); fp16 otherwise
    dtype = torch.float32 if 2 * len(x) * views * ft.cache_bytes_per_view(model) <= 2e9 else torch.float16
    cache = ft.build_cache(model, x, views=views, progress=cache_progress, should_stop=should_stop, dtype=dtype)
    cache_v = ft.build_cache(model, xv, views=1, should_stop=should_stop, dtype=dtype) if xv is not None else None
    if cache is None or (xv is not None and cache_v is None):
        hist.cancelled = True
        return
    threads = torch.get_num_threads()
    if device.type == "cpu":  # small ops: one thread is faster on a busy machine and leaves the GUI a core
        torch.set_num_threads(1)
    try:
        _cached_epochs(model, cache, cache_v, y, yv, hist, epochs, batch_size, gen, opt, progress, should_stop,
                       on_epoch, total, resumer or Resumer(None), clock)
    finally:
        torch.set_num_threads(threads)


def _cached_epochs(model, cache, cache_v, y, yv, hist, epochs, batch_size, gen, opt, progress, should_stop,
                   on_epoch, total, resumer, clock) -> None:
    from napari_focus.focus import fast_train as ft

    device = next(model.parameters()).device
    n = cache.n
    steps_per_epoch = (n + batch_size - 1) // batch_size
    start = _start(resumer, opt, gen, hist, progress, epochs, steps_per_epoch, clock)
    step = start * steps_per_epoch
    for epoch in range(start, epochs):
        order = torch.randperm(n, generator=gen)
        view = torch.randint(0, cache.views, (n,), generator=gen)
        tot = 0.0
        for s in range(0, n, batch_size):
            if should_stop is not None and should_stop():
                hist.cancelled = True
                return
            idx = order[s : s + batch_size]
            loss = task_loss(model, ft.cached_logits(model, cache, idx, view[idx]), y[idx].to(device))
            tot += _descend(opt, loss, progress, step := step + 1, total, epoch) * len(idx)
        hist.loss.append(tot / n)
        hist.sink_mass.append(0.0)
        if cache_v is not None:
            hist.val_score.append(_score_values(model, ft.cached_predict(model, cache_v), yv))
        _end_epoch(resumer, epoch, model, opt, gen, hist, clock)
        if on_epoch is not None:
            on_epoch(epoch + 1, hist.loss[-1], hist.val_score[-1] if cache_v is not None else None)
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()


def items_with_labels(items: Iterable[Any], labels: Sequence[Any]) -> list[tuple[Any, Any]]:
    """Pair cubes (or items) with labels, for callers that hold them apart (the GUI)."""
    return list(zip(items, labels, strict=True))
