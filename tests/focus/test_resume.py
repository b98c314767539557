"""Resuming an interrupted training run: same weights as an uninterrupted run, or a clear refusal."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from napari_focus.errors import FocusError  # noqa: E402
from napari_focus.focus.resume import STATE, state_dir_for  # noqa: E402
from napari_focus.focus.train import train  # noqa: E402

from .conftest import tiny_model  # noqa: E402
from .test_cli import folder  # noqa: E402, F401  (the tiny dataset folder fixture)

EPOCHS = 3


class Killed(Exception):
    """Stands for the process dying after an epoch."""


def _data(n: int = 12, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 24, 32, 32, generator=g)
    y = torch.arange(n) % 3
    x[y == 1, 4:8] += 0.5
    return x, y


def _run(fast: bool, resume_dir=None, on_epoch=None, should_stop=None, data=None, lr=1e-2, restart=False):
    model = tiny_model()  # same seed: the same initial model every time, as a rerun of the CLI builds it
    x, y = data if data is not None else _data()
    hist = train(model, (x, y), epochs=EPOCHS, lr=lr, batch_size=5, seed=3, fast=fast, val=(x[:6], y[:6]),
                 resume_dir=resume_dir, on_epoch=on_epoch, should_stop=should_stop, restart=restart)
    return model, hist


def _kill_after(k: int):
    def on_epoch(epoch, loss, val):
        if epoch == k:
            raise Killed

    return on_epoch


def _trainables(model) -> dict[str, torch.Tensor]:
    return {n: t.detach().clone() for n, t in model.state_dict().items() if not n.startswith("backbone.")}


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
def test_resumed_run_ends_with_the_uninterrupted_weights(tmp_path, fast):
    ref, ref_hist = _run(fast)
    state = tmp_path / "ck.partial"
    with pytest.raises(Killed):
        _run(fast, state, on_epoch=_kill_after(1))
    meta = json.loads((state / STATE).read_text())
    assert meta["epoch"] == 1 and len(meta["history"]["loss"]) == 1
    assert [p.name for p in state.iterdir()] and not any(p.suffix in (".pt", ".pkl") for p in state.iterdir())

    seen = []
    model, hist = _run(fast, state, on_epoch=lambda e, loss, v: seen.append(e))
    assert hist.resumed_from == 1 and seen == [2, 3]  # epoch 1 was not trained again
    assert hist.loss == ref_hist.loss and hist.val_score == ref_hist.val_score
    got, want = _trainables(model), _trainables(ref)
    assert got.keys() == want.keys()
    fresh = _trainables(tiny_model())
    changed = [n for n in want if n not in fresh or not torch.equal(want[n], fresh[n])]
    assert "prompts" in changed and "head.weight" in changed  # training moved them: the comparison means something
    assert "margin_ref" in changed  # the readout's reference is measured at the end of training, resumed or not
    for n in want:
        assert torch.equal(got[n], want[n]), n


def test_training_time_splits_setup_epochs_and_earlier_runs(tmp_path, monkeypatch):
    """The report covers what it says: this run's setup and epochs apart, an interrupted run's time apart."""
    from napari_focus.focus import fast_train

    build = fast_train.build_cache

    def slow_cache(*a, **k):  # the cache stands for the reading and caching a first epoch used to absorb
        import time

        time.sleep(0.3)
        return build(*a, **k)

    monkeypatch.setattr(fast_train, "build_cache", slow_cache)
    state = tmp_path / "ck.partial"
    with pytest.raises(Killed):
        _run(True, state, on_epoch=_kill_after(1))
    earlier = json.loads((state / STATE).read_text())["seconds"]
    marks = []
    model = tiny_model()
    x, y = _data()
    hist = train(model, (x, y), epochs=EPOCHS, lr=1e-2, batch_size=5, seed=3, fast=True, val=(x[:6], y[:6]),
                 resume_dir=state, progress=lambda s, t, info: marks.append(info.get("stage")))
    assert hist.resumed_from == 1 and len(hist.epoch_seconds) == EPOCHS - 1
    assert hist.setup_seconds >= 0.6  # two caches (training and held-out), each slowed by 0.3 s
    assert max(hist.epoch_seconds) < hist.setup_seconds  # no epoch carries the setup
    assert hist.earlier_seconds == pytest.approx(earlier)
    this_run = hist.seconds - hist.earlier_seconds
    assert hist.setup_seconds + sum(hist.epoch_seconds) <= this_run + 1e-6
    assert hist.seconds_left(EPOCHS) == 0.0
    assert marks.index("training") > max(i for i, m in enumerate(marks) if m == "caching")  # the epochs' start


def test_cancel_keeps_the_state_and_the_model_unchanged(tmp_path):
    state = tmp_path / "ck.partial"
    done = []
    model, hist = _run(True, state, on_epoch=lambda e, loss, v: done.append(e), should_stop=lambda: len(done) >= 2)
    assert hist.cancelled
    assert all(torch.equal(a, b) for a, b in zip(_trainables(model).values(), _trainables(tiny_model()).values(),
                                                 strict=True))
    assert json.loads((state / STATE).read_text())["epoch"] == 2
    _, hist = _run(True, state)
    assert hist.resumed_from == 2 and len(hist.loss) == EPOCHS and not hist.cancelled


def test_other_settings_or_data_are_refused_unless_restart(tmp_path):
    state = tmp_path / "ck.partial"
    with pytest.raises(Killed):
        _run(True, state, on_epoch=_kill_after(1))
    with pytest.raises(FocusError, match="other settings, model or data.*--restart"):
        _run(True, state, lr=2e-2)
    with pytest.raises(FocusError, match="--restart"):
        _run(True, state, data=_data(seed=2))
    with pytest.raises(FocusError, match="--restart"):
        _run(False, state)  # the full path is another run
    _, hist = _run(True, state, lr=2e-2, restart=True)
    assert hist.resumed_from == 0 and len(hist.loss) == EPOCHS


def test_cli_resumes_after_an_interruption_and_removes_the_state(folder, tmp_path, capsys, monkeypatch):  # noqa: F811
    from safetensors.torch import load_file

    import napari_focus.focus.cli as fcli
    from napari_focus.cli import main

    args = ["--data", str(folder), "--backbone-file", str(folder / "bb/backbone.json"), "--groups", "3",
            "--epochs", "2", "--seed", "1", "--fast", "--views", "2"]
    assert main(["train", "--out", str(tmp_path / "ref"), *args]) == 0
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and not state_dir_for(tmp_path / "ref").exists()

    ck = tmp_path / "ck"
    log = fcli._EpochLog

    class DyingLog(log):
        def __call__(self, epoch, loss, val):
            super().__call__(epoch, loss, val)
            raise KeyboardInterrupt

    monkeypatch.setattr(fcli, "_EpochLog", DyingLog)
    assert main(["train", "--out", str(ck), *args]) == 130
    assert not ck.exists() and (state_dir_for(ck) / STATE).is_file()
    capsys.readouterr()
    monkeypatch.setattr(fcli, "_EpochLog", log)
    assert main(["train", "--out", str(ck), *args]) == 0
    err = capsys.readouterr().err
    assert "resuming after epoch 1/2" in err and "epoch 2/2" in err and "epoch 1/2 loss" not in err
    assert "for 1 epoch (after epoch 1), and" in err and "in interrupted runs before it" in err
    assert not state_dir_for(ck).exists()
    got, want = load_file(str(ck / "weights.safetensors")), load_file(str(tmp_path / "ref" / "weights.safetensors"))
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
