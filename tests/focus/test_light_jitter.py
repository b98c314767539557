"""Training under jittered light (docs/method.md §3.7): per-leaf light level and tilt, reproducible, bounded,
seen by every training stage and never by the caller's tensor or the validation leaves."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_focus.errors import FocusError  # noqa: E402
from napari_focus.focus import fast_train, reference, spectral_contrast  # noqa: E402
from napari_focus.focus import train as train_module  # noqa: E402
from napari_focus.focus.light_jitter import LightJitter  # noqa: E402
from napari_focus.focus.train import train  # noqa: E402
from napari_focus.light import tilt_ramp  # noqa: E402

from .conftest import tiny_model  # noqa: E402
from .test_cli import folder  # noqa: E402, F401  (the tiny dataset folder fixture)
from .test_resume import _data  # noqa: E402

WL = np.linspace(400, 1000, 24)


def test_factors_are_reproducible_linear_in_wavelength_and_within_the_ranges():
    jitter = LightJitter(lowest_level=0.6, tilt=0.3)
    f = jitter.factors(2000, WL, seed=0).double()
    assert f.shape == (2000, 24) and torch.equal(f, jitter.factors(2000, WL, seed=0).double())
    assert not torch.equal(f, jitter.factors(2000, WL, seed=1).double())
    level = (f[:, 0] + f[:, -1]) / 2  # the ramp is −0.5 and +0.5 at the ends: their mean is the level
    tilt = (f[:, -1] - f[:, 0]) / level
    assert 0.6 <= float(level.min()) < 0.62 and 0.98 < float(level.max()) <= 1.0
    assert -0.3 <= float(tilt.min()) < -0.29 and 0.29 < float(tilt.max()) <= 0.3
    ramp = torch.as_tensor(tilt_ramp(WL))
    assert torch.allclose(f, level[:, None] * (1 + tilt[:, None] * ramp[None]), atol=1e-6)


def test_no_jitter_range_leaves_the_light_alone_and_bad_ranges_are_refused():
    assert torch.equal(LightJitter(1.0, 0.0).factors(5, WL, seed=3), torch.ones(5, 24))
    for lowest, tilt in ((0.0, 0.1), (1.2, 0.1), (0.8, -0.1), (0.8, 1.5)):
        with pytest.raises(FocusError, match="light jitter"):
            LightJitter(lowest, tilt)


def test_without_wavelengths_the_tilt_runs_over_band_positions():
    x = torch.ones(3, 24, 2, 2)
    out = LightJitter(1.0, 0.3).apply_(x.clone(), None, seed=0)
    per_band = out[:, :, 0, 0]
    assert torch.allclose(per_band, LightJitter(1.0, 0.3).factors(3, np.arange(24), seed=0))


def test_training_stages_see_the_jittered_leaves_the_caller_and_validation_do_not(monkeypatch):
    x, y = _data()
    x0 = x.clone()
    seen = {}
    fit = spectral_contrast.fit_spectral_contrast

    def spy(model, xs, ys, *a, **kw):
        seen["contrast"] = xs.clone()
        return fit(model, xs, ys, *a, **kw)

    monkeypatch.setattr(spectral_contrast, "fit_spectral_contrast", spy)
    reference_fit = reference.fit_margin_reference

    def reference_spy(model, xs, ys, **kw):
        seen["reference"] = xs.clone()
        return reference_fit(model, xs, ys, **kw)

    monkeypatch.setattr(reference, "fit_margin_reference", reference_spy)
    build_cache = fast_train.build_cache
    cached = []

    def cache_spy(model, xs, *a, **kw):
        cached.append(xs.clone())
        return build_cache(model, xs, *a, **kw)

    monkeypatch.setattr(fast_train, "build_cache", cache_spy)
    jitter = LightJitter(0.6, 0.3)
    model = tiny_model()
    hist = train(model, (x, y), epochs=1, batch_size=6, seed=4, fast=True, val=(x[:4], y[:4]),
                 spectral_contrast=1.0, light_jitter=jitter)
    assert torch.equal(x, x0)  # the caller's tensor is untouched
    expected = x0 * jitter.factors(len(x0), model.wavelengths_nm, seed=4)[:, :, None, None]
    assert torch.allclose(seen["contrast"], expected) and torch.allclose(seen["reference"], expected)
    assert len(hist.val_score) == 1
    assert torch.allclose(cached[0], expected) and torch.equal(cached[1], x0[:4])  # training leaves, validation

    plain = tiny_model()
    train(plain, (x, y), epochs=1, batch_size=6, seed=4, fast=True, spectral_contrast=1.0)
    assert torch.equal(seen["contrast"], x0)  # the plain run's fit saw the leaves as they are
    assert not torch.equal(model.phi, plain.phi)


def test_a_resumed_run_with_another_jitter_is_refused(tmp_path):
    x, y = _data()
    state = tmp_path / "ck.partial"

    def kill(epoch, loss, val):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny_model(), (x, y), epochs=2, batch_size=6, fast=True, resume_dir=state,
              on_epoch=kill, light_jitter=LightJitter(0.6, 0.3))
    with pytest.raises(FocusError, match="--restart"):
        train(tiny_model(), (x, y), epochs=2, batch_size=6, fast=True, resume_dir=state,
              light_jitter=LightJitter(0.8, 0.3))
    hist = train(tiny_model(), (x, y), epochs=2, batch_size=6, fast=True, resume_dir=state,
                 light_jitter=LightJitter(0.6, 0.3))
    assert hist.resumed_from == 1


def test_cli_passes_the_jitter_to_training(folder, tmp_path, monkeypatch, capsys):  # noqa: F811
    from napari_focus.cli import main

    got = []
    real = train_module.train

    def spy(*a, **kw):
        got.append(kw.get("light_jitter"))
        return real(*a, **kw)

    monkeypatch.setattr(train_module, "train", spy)
    base = ["train", "--data", str(folder), "--backbone-file", str(folder / "bb/backbone.json"), "--groups", "3",
            "--epochs", "1", "--fast"]
    assert main([*base, "--out", str(tmp_path / "a"), "--light-jitter-level", "0.7",
                 "--light-jitter-tilt", "0.2"]) == 0
    assert main([*base, "--out", str(tmp_path / "b"), "--light-jitter-tilt", "0.2"]) == 0
    assert main([*base, "--out", str(tmp_path / "c")]) == 0
    assert got == [LightJitter(0.7, 0.2), LightJitter(1.0, 0.2), None]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["classes"] == ["healthy", "sick"]
    torch.set_num_threads(1)
