"""Load torch's native libraries without holding Python's GIL, before `import torch` does it while holding it.

`import torch` dlopens ~1 GB of torch's own libraries and ~3 GB of CUDA libraries (cuBLAS, cuDNN, … even on a
machine without a GPU) through `ctypes.CDLL` and the extension import, both of which keep the GIL for the whole
dlopen. From a background thread that still freezes the GUI thread: 0.3–1.3 s with a warm page cache, 8.3 s with
a cold one (benchmarks/gui_latency.py, the Explain dock opening). A ctypes call to libc's `dlopen` releases the
GIL, so the dynamic linker's work (reading the files, relocations, static constructors) happens beside the GUI;
torch's own loads then find the libraries already mapped and return at once. The linker's own lock is still held
meanwhile, so a GUI thread that needs it (a Qt plugin load, PyOpenGL resolving a GL function) waits for the
preload: one cold-cache dock opening stalled 3.9 s that way, against 8.3 s for the GIL-held load it replaces.

Only torch's C++ libraries are opened here (`libtorch_global_deps`, `libtorch_cpu`, `libtorch_cuda`), never a
Python extension: their static constructors do not touch Python. The CUDA libraries come in as their dependencies
through their RUNPATH, which is where torch's own preload looks too. With `LD_LIBRARY_PATH` set that resolution
could differ from torch's (the variable is searched first), so nothing is preloaded then. Any failure only loses
the head start: torch then loads everything itself, as before.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

#: torch's C++ libraries in load order, and whether torch opens them RTLD_GLOBAL (torch/__init__.py)
TORCH_LIBRARIES = (("libtorch_global_deps.so", True), ("libtorch_cpu.so", False), ("libtorch_cuda.so", False))


def torch_library_dir() -> Path | None:
    """torch's `lib` folder, found without importing torch (None: torch is not installed)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "lib"


def preload_torch_libraries() -> list[str]:
    """dlopen torch's C++ libraries with the GIL released; returns the names loaded (empty: skipped or failed).

    Call it from a background thread before the first `import torch` (a no-op once torch is imported).
    """
    if "torch" in sys.modules or not sys.platform.startswith("linux") or os.environ.get("LD_LIBRARY_PATH"):
        return []
    lib_dir = torch_library_dir()
    if lib_dir is None:
        return []
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: libc's dlopen (ctypes calls release the GIL)
        dlopen = libc.dlopen
    except (OSError, AttributeError):
        return []
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    loaded = []
    for name, is_global in TORCH_LIBRARIES:
        path = lib_dir / name
        if not path.is_file():
            continue  # e.g. libtorch_cuda.so in a CPU-only build
        flags = os.RTLD_NOW | (os.RTLD_GLOBAL if is_global else os.RTLD_LOCAL)
        if not dlopen(os.fsencode(path), flags):  # the handle is kept open: torch opens the same files
            break  # a library that does not load here will not load for torch either: let it say why
        loaded.append(name)
    return loaded
