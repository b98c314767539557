"""torch's imports hide triton from torch only while they run: the rest of the process can still import it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed"),
    pytest.mark.skipif(os.path.exists("/dev/nvidia0"), reason="with an NVIDIA device triton is never hidden"),
]

# a fresh process: the suite's conftest imports triton up front
SCRIPT = textwrap.dedent("""
    import sys
    from napari_focus._qt import explain_worker as w

    with w.torch_imports():
        import timm  # imports torch._dynamo, which asks whether triton is there
        from torch.utils._triton import has_triton_package
        print("torch_sees_triton", has_triton_package(), "triton" in sys.modules)
    print("still_hidden", w._HIDE_TRITON in sys.meta_path)
    import triton
    print("imported_after", triton.__name__)
""")


def test_triton_is_hidden_from_torch_only_while_it_imports() -> None:
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = dict(line.split(" ", 1) for line in res.stdout.splitlines())
    assert out["torch_sees_triton"] == "False False"
    assert out["still_hidden"] == "False"
    assert out["imported_after"] == "triton"


def test_nested_users_unhide_once_the_last_leaves() -> None:
    from napari_focus._qt import explain_worker as w

    w._hiding_triton(True)
    w._hiding_triton(True)
    w._hiding_triton(False)
    assert w._HIDE_TRITON in sys.meta_path
    with pytest.raises(ModuleNotFoundError, match="hidden"):
        w._HIDE_TRITON.find_spec("triton.language")
    w._hiding_triton(False)
    assert w._HIDE_TRITON not in sys.meta_path
    assert w._HIDE_TRITON.find_spec("numpy") is None
