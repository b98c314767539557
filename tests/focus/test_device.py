import torch

from napari_focus.focus.device import autocast, select_device


def test_device_override_and_env(monkeypatch):
    assert select_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("NAPARI_FOCUS_DEVICE", "cpu")
    assert select_device() == torch.device("cpu")
    monkeypatch.delenv("NAPARI_FOCUS_DEVICE")
    assert select_device().type in {"cuda", "mps", "cpu"}
    with autocast(torch.device("cpu")):  # no autocast off CUDA
        assert torch.ones(2).dtype == torch.float32


def test_import_napari_focus_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, napari_focus, napari_focus.focus; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
