"""CLI: train → explain → evaluate on a tiny dataset folder written by the test."""

import json

import numpy as np
import pytest
import torch

from napari_focus.cli import main
from napari_focus.dataset import write_manifest

from .conftest import TINY, tiny_vit


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from safetensors.torch import save_file

    from napari_focus.cube_io.envi import write_envi

    root = tmp_path_factory.mktemp("ds")
    rng = np.random.default_rng(0)
    wl = np.linspace(400, 1000, 16)
    rows = []
    for i in range(8):
        label = ["healthy", "sick"][i % 2]
        cube = (0.2 + 0.05 * rng.random((16, 24, 24))).astype(np.float32)
        lesion = np.zeros((24, 24), bool)
        if label == "sick":
            cube[5:8, 8:14, 8:14] += 0.2
            lesion[8:14, 8:14] = True
        write_envi(root / f"c{i}.hdr", cube, wavelengths_nm=wl)
        np.save(root / f"leaf{i}.npy", np.ones((24, 24), bool))
        np.save(root / f"les{i}.npy", lesion)
        rows.append({"file": f"c{i}.hdr", "label": label, "split": "train" if i < 6 else "test",
                     "leaf_mask": f"leaf{i}.npy", "lesion_mask": f"les{i}.npy" if label == "sick" else ""})
    write_manifest(root, rows)
    (root / "ground_truth.json").write_text(json.dumps({
        "task": "t", "sensor": "s", "classes": ["healthy", "sick"], "trait": None, "wavelengths_nm": wl.tolist(),
        "gt_top5_band": {"healthy": [5, 6, 7, 0, 12], "sick": [5, 6, 7, 0, 12]}}))
    vit, _ = tiny_vit()
    bbdir = root / "bb"
    bbdir.mkdir()
    save_file({k: v.contiguous() for k, v in vit.state_dict().items()}, str(bbdir / "w.safetensors"))
    (bbdir / "backbone.json").write_text(json.dumps({"kwargs": TINY, "weights_file": "w.safetensors"}))
    return root


def test_train_explain_evaluate(folder, tmp_path, capsys):
    ck = tmp_path / "ck"
    rc = main(["train", "--data", str(folder), "--out", str(ck), "--backbone-file", str(folder / "bb/backbone.json"),
               "--groups", "3", "--epochs", "2", "--seed", "1"])
    assert rc == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["classes"] == ["healthy", "sick"] and len(info["groups"]) == 3
    assert (ck / "config.json").is_file() and (ck / "weights.safetensors").is_file()

    out = tmp_path / "exp"
    rc = main(["explain", str(folder / "c1.hdr"), "--model", str(ck), "--out", str(out), "--class", "sick"])
    assert rc == 0
    pred = json.loads((out / "prediction.json").read_text())
    assert pred["explained_class"] == "sick" and set(pred["probabilities"]) == {"healthy", "sick"}
    assert len(pred["model_sha256"]) == 64
    lines = (out / "curve.csv").read_text().splitlines()
    assert lines[0] == "band,wavelength_nm,importance" and len(lines) == 17
    assert (out / "figure.png").read_bytes()[:4] == b"\x89PNG"
    from napari_focus.cube_io import read_cube

    sal = read_cube(out / "saliency.hdr")
    assert sal.data.shape == (16, 24, 24) and np.allclose(sal.wavelengths_nm, np.linspace(400, 1000, 16), atol=1e-3)
    assert (np.asarray(sal.data) >= 0).all()
    capsys.readouterr()

    rc = main(["evaluate", "--data", str(folder), "--model", str(ck)])
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["n"] == 2 and 0 <= res["accuracy"] <= 1
    for k in ("bio5_strict", "bio5_tolerant", "iou", "auprc", "collapse_rate", "sink_mass", "consistency"):
        assert k in res, k
    assert "ratio" in res["spectral_deletion"]
    torch.set_num_threads(1)


def test_cli_errors_are_one_line(folder, tmp_path, capsys):
    rc = main(["explain", str(folder / "c1.hdr"), "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("napari-focus: error:") and "\n" not in err
    rc = main(["train", "--data", str(folder), "--out", str(tmp_path / "c"), "--backbone", "vit_base_patch14_dinov2"])
    assert rc == 2 and "does not download" in capsys.readouterr().err


def test_epoch_log_estimates_from_epochs_not_setup(monkeypatch, capsys):
    """A first epoch that followed minutes of caching must not make "time left" minutes long."""
    from napari_focus.focus import cli as focus_cli

    now = [0.0]
    monkeypatch.setattr(focus_cli.time, "perf_counter", lambda: now[0])
    log = focus_cli._EpochLog(epochs=4)
    seen = []
    progress = log.watch(lambda step, total, info: seen.append(info))
    now[0] = 600.0  # ten minutes of reading and caching
    progress(0, 40, {"stage": "training", "epoch": 0})
    for epoch in (1, 2):
        now[0] += 6.0
        log(epoch, 0.5, None)
    err = capsys.readouterr().err
    assert "epoch 1/4 loss 0.5000 (6.0 s, ~18 s left)" in err and "epoch 2/4 loss 0.5000 (6.0 s, ~12 s left)" in err
    assert seen == [{"stage": "training", "epoch": 0}]  # the mark still reaches the bar


def test_time_report_names_what_it_covers():
    from types import SimpleNamespace

    from napari_focus.focus.cli import _time_report

    hist = SimpleNamespace(seconds=161.7, earlier_seconds=73.1, setup_seconds=40.1, epoch_seconds=[4.8] * 10,
                           resumed_from=20)
    assert _time_report(hist) == ("89 s in this run: 40.1 s reading, calibrating and caching, 48.0 s for 10 epochs "
                                  "(after epoch 20), and 73 s in interrupted runs before it")
