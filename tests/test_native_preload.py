"""torch's native libraries are loaded before `import torch`, and torch then imports and runs on top of them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from napari_focus.native_preload import TORCH_LIBRARIES, torch_library_dir

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="dlopen preload is Linux-only")

SCRIPT = textwrap.dedent("""
    import sys
    from napari_focus.native_preload import preload_torch_libraries

    loaded = preload_torch_libraries()
    maps = open("/proc/self/maps").read()
    print("loaded", ",".join(loaded))
    print("mapped", ",".join(n for n in ("libtorch_cpu.so", "libtorch_global_deps.so") if n in maps))
    print("torch_before", "torch" in sys.modules)
    import torch
    print("sum", float((torch.ones(3) * 2).sum()))
    print("again", ",".join(preload_torch_libraries()))
""")


def _run(env_extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"} | env_extra
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300,
                         check=True).stdout
    return dict(line.split(" ", 1) if " " in line else (line, "") for line in out.splitlines())


def test_preload_maps_torch_libraries_before_the_import_and_torch_still_works() -> None:
    present = [n for n, _ in TORCH_LIBRARIES if (torch_library_dir() / n).is_file()]
    res = _run({})
    assert res["loaded"].split(",") == present
    assert res["mapped"] == "libtorch_cpu.so,libtorch_global_deps.so"
    assert res["torch_before"] == "False"
    assert res["sum"] == "6.0"
    assert res["again"] == ""  # once torch is imported it does nothing


def test_no_preload_when_ld_library_path_could_change_what_loads() -> None:
    res = _run({"LD_LIBRARY_PATH": "/nonexistent"})
    assert res["loaded"] == ""
    assert res["mapped"] == ""
    assert res["sum"] == "6.0"
