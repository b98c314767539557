"""The train and explain commands refuse bad data, devices, cubes and state in one line with exit status 2, for
the reason they give, before torch is imported or a model is loaded where they can, and without a traceback.
(tests/catalogue/test_bad_inputs.py holds the whole catalogue of bad inputs, bad arguments included.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_focus.cli import main
from napari_focus.cube_io import write_envi
from napari_focus.dataset import write_manifest

ROOT = Path(__file__).resolve().parents[2]
WL = np.linspace(400, 1000, 16)


def run(argv: list[str], capsys) -> tuple[int, str]:
    """main(argv) → (exit status, stderr), argparse's own exits included."""
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    return rc, capsys.readouterr().err.strip()


def refused(argv: list[str], capsys) -> str:
    rc, err = run(argv, capsys)
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def in_subprocess(argv: list[str]) -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter that fails if torch was imported."""
    code = ("import sys; from napari_focus.cli import main; rc = main(sys.argv[1:]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr); sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def make_dataset(root: Path, labels: list[str], classes: list[str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i, label in enumerate(labels):
        write_envi(root / f"c{i}.hdr", rng.random((16, 8, 8)).astype(np.float32), wavelengths_nm=WL)
        rows.append({"file": f"c{i}.hdr", "label": label, "split": "train"})
    write_manifest(root, rows)
    if classes:
        (root / "ground_truth.json").write_text(json.dumps({"classes": classes}))
    return root


@pytest.mark.parametrize(("labels", "classes", "why"), [
    (["healthy"] * 4, None, "at least 2 classes"),
    (["healthy", "healthy", "healthy", "sick"], None, "'sick' has 1 sample"),
    (["healthy", "healthy", "sick", "sick"], ["healthy", "sick", "rust"], "'rust' has 0 samples"),
])
def test_train_refuses_data_that_cannot_train_a_classifier(tmp_path, capsys, labels, classes, why):
    data = make_dataset(tmp_path / "ds", labels, classes)
    err = refused(["train", "--data", str(data), "--out", str(tmp_path / "ck")], capsys)
    assert why in err and str(data) in err
    assert not (tmp_path / "ck").exists() and not (tmp_path / "ck.partial").exists()


def test_a_device_that_is_not_here_is_refused(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    from napari_focus.errors import FocusError
    from napari_focus.focus.device import select_device

    if not torch.cuda.is_available():
        with pytest.raises(FocusError, match="not available"):
            select_device("cuda")
    with pytest.raises(FocusError, match="not one of"):
        select_device("tpu9")


def _cube(path: Path, bands: int, lo: float, hi: float) -> Path:
    data = np.random.default_rng(1).random((bands, 16, 16)).astype(np.float32)
    write_envi(path, data, wavelengths_nm=np.linspace(lo, hi, bands) if bands > 1 else [lo])
    return path


@pytest.mark.parametrize(("bands", "lo", "hi", "why"), [(1, 650.0, 650.0, "1 band"),
                                                        (40, 2000.0, 2500.0, "the model was trained on")])
def test_explain_refuses_a_bad_cube_before_torch_and_names_it(tmp_path, bands, lo, hi, why):
    cube = _cube(tmp_path / "bad.hdr", bands, lo, hi)
    res = in_subprocess(["explain", str(cube), "--out", str(tmp_path / "out")])  # the embedded model
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert lines[-1] == "NO-TORCH" and len(lines) == 2, res.stderr  # one error line, no spectral INFO lines
    assert str(cube) in lines[0] and why in lines[0]
    assert not (tmp_path / "out").exists()


def test_resampling_a_one_band_cube_is_a_focus_error():
    pytest.importorskip("torch")
    from napari_focus.cube import Cube
    from napari_focus.errors import FocusError
    from napari_focus.focus.inputs import band_mapping

    cube = Cube(np.ones((1, 4, 4), np.float32), wavelengths_nm=np.array([650.0]))
    with pytest.raises(FocusError, match="at least 2"):
        band_mapping(WL, 16, np.arange(16), cube)


def test_resampling_prints_no_per_band_lines(capfd):
    pytest.importorskip("torch")
    from napari_focus.cube import Cube
    from napari_focus.errors import FocusError
    from napari_focus.focus.inputs import band_mapping

    cube = Cube(np.ones((20, 4, 4), np.float32), wavelengths_nm=np.linspace(400, 600, 20))
    with pytest.raises(FocusError, match="cannot be filled"):
        band_mapping(WL, 16, np.arange(16), cube)
    assert "No overlap" not in capfd.readouterr().err


def test_a_deeply_nested_config_is_refused_in_one_line(tmp_path, capsys):
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    (ck / "weights.safetensors").write_bytes(b"")
    cube = _cube(tmp_path / "c.hdr", 16, 400, 1000)
    err = refused(["explain", str(cube), "--model", str(ck), "--out", str(tmp_path / "out")], capsys)
    assert str(ck) in err and "nested too deeply" in err


def test_a_truncated_training_state_suggests_restart(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from napari_focus.focus.resume import FORMAT, VERSION, state_dir_for, write_state

    data = make_dataset(tmp_path / "ds", ["healthy", "healthy", "sick", "sick"])
    bb = tmp_path / "bb"
    bb.mkdir()
    from safetensors.torch import save_file
    from timm.models.vision_transformer import VisionTransformer

    kw = dict(img_size=16, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=0)
    save_file({k: v.contiguous() for k, v in VisionTransformer(**kw).state_dict().items()}, str(bb / "w.safetensors"))
    (bb / "backbone.json").write_text(json.dumps({"kwargs": kw, "weights_file": "w.safetensors"}))
    state = state_dir_for(tmp_path / "ck")
    meta = write_state(state, "state-epoch0001", {"x": torch.zeros(1000)},
                       {"format": FORMAT, "version": VERSION, "fingerprint": "?", "epoch": 1})
    tensors = state / meta["tensors"]
    tensors.write_bytes(tensors.read_bytes()[:100])
    rc, err = run(["train", "--data", str(data), "--out", str(tmp_path / "ck"), "--backbone-file",
                   str(bb / "backbone.json"), "--groups", "2", "--epochs", "2"], capsys)
    errors = [line for line in err.splitlines() if "error" in line]  # after the run's own progress line
    assert rc == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert "--restart" in errors[0] and str(state) in errors[0]


def test_info_into_a_closed_pipe_is_quiet(tmp_path):
    cube = _cube(tmp_path / "c.hdr", 16, 400, 1000)
    code = ("import os, sys; r, w = os.pipe(); os.dup2(w, 1); os.close(r); os.close(w); "
            "from napari_focus.cli import main; sys.exit(main(['info', sys.argv[1]]))")
    res = subprocess.run([sys.executable, "-c", code, str(cube)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 141 and res.stderr == "", res.stderr
