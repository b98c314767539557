"""The Explain dock's worker side: what runs off the GUI thread, and what it imports ahead of time.

No Qt here, and napari only for its layer objects (`result_layers.build_layers`). Everything that would hold the
GUI thread (torch's import, scipy.stats, pyqtgraph, the modules and dash patterns napari needs for a first Labels
layer, the contrast-limit scan of T, constructing the result's layers) happens in a thread;
`benchmarks/gui_latency.py` measures what is left on the GUI thread.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.abc
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

from ..cube import Cube
from ..native_preload import preload_torch_libraries

# imported by the prefetch thread and the worker: the FOCUS core (torch, timm: loading a model imports ~1,400
# modules), metrics and explain_layers (scipy.stats), what napari's first Labels layer (the leaf mask)
# imports on the GUI thread: pandas, skimage.color.colorconv (lazily loaded: importing skimage.color is not enough),
# and the spectral dock (pyqtgraph: 0.3-0.4 s of GUI-thread CPU, 1.7-1.8 s of wall time on the GUI thread when the
# dock opened; its import creates no QObject, only pens, brushes and a QTransform, which any thread may create)
PREFETCH_MODULES = ("torch", "timm", "timm.models.vision_transformer", "safetensors.torch",
                    "napari_focus.focus.checkpoint", "napari_focus.focus.explain", "napari_focus.vegetation",
                    "napari_focus.metrics", "napari_focus.explain_layers", "pandas", "skimage.color.colorconv",
                    "napari_focus._qt.band_link")
_prefetch: list[threading.Thread] = []
_warmed: list[bool] = []


class _HideTriton(importlib.abc.MetaPathFinder):
    """Refuses `import triton` (and its submodules) while it is on `sys.meta_path`."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == "triton" or fullname.startswith("triton."):
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden while napari-focus imports torch)",
                                      name=fullname)
        return None


_HIDE_TRITON = _HideTriton()
_hiders: list[int] = []  # one entry per thread inside torch_imports() that hides triton
_hiders_lock = threading.Lock()


def _hiding_triton(on: bool) -> None:
    with _hiders_lock:
        if on:
            _hiders.append(threading.get_ident())
            if _HIDE_TRITON not in sys.meta_path:
                sys.meta_path.insert(0, _HIDE_TRITON)
        else:
            _hiders.remove(threading.get_ident())
            if not _hiders and _HIDE_TRITON in sys.meta_path:
                sys.meta_path.remove(_HIDE_TRITON)


@contextlib.contextmanager
def torch_imports() -> Iterator[None]:
    """Wrap a GUI process's imports of torch & co. (from a background thread):

    - without an NVIDIA device, torch does not see triton meanwhile: loading triton's LLVM after napari's OpenGL
      context exists segfaults under Mesa's llvmpipe (software GL: VMs, remote desktops, Xvfb), and torch._dynamo
      imports it when timm imports torch._dynamo. torch remembers the answer (`has_triton_package` is cached), so
      it never loads triton later; triton stays importable by the rest of the process once the block ends;
    - torch's native libraries are loaded with the GIL released first (`native_preload`), so that the import's
      dlopens do not freeze the GUI thread.
    """
    hide = "triton" not in sys.modules and not os.path.exists("/dev/nvidia0")
    if hide:
        _hiding_triton(True)
    try:
        with contextlib.suppress(Exception):  # only a head start: torch loads them itself otherwise
            preload_torch_libraries()
        yield
    finally:
        if hide:
            _hiding_triton(False)


@contextlib.contextmanager
def _one_full_collection() -> Iterator[None]:
    """Pause the cyclic GC while importing, then run one full collection.

    Importing torch & co. makes ~450,000 long-lived objects, and every full collection walks them all with the GIL
    held: 0.2-0.4 s each, the GUI thread waiting (benchmarks/gui_latency.py caught four in this thread while the
    dock opened, then more on the GUI thread while the result's layers were added). One collection at the end
    instead; it also sets CPython's threshold for the next full one (a quarter more long-lived objects) from the
    whole heap, so that adding a result's layers does not set one off. (`gc.freeze` would make them cheap for
    good, but it would also freeze the viewer's layers alive at that moment: their data never freed once removed.)
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect()


def _warm_vispy() -> None:
    """First-use costs of vispy visuals that napari's first result layers pay on the GUI thread. Numpy only: no GL,
    no Qt.

    - the dash patterns napari's first Labels layer (its polygon overlay's line) builds: 13 patterns by a Python
      loop, ~60 ms; `_make_pattern` is lru-cached module-wide, so the GUI thread's DashAtlas then costs nothing;
    - the interpolation kernels every Image visual loads from a file (`load_spatial_filters`): ~50 ms the first
      time under load (the file read and numpy's .npy machinery), ~1 ms once warm.
    """
    from vispy.io import load_spatial_filters
    from vispy.visuals.line.dash_atlas import DashAtlas

    DashAtlas()
    load_spatial_filters()


def _warm_torch() -> None:
    """First-use costs of torch that building and running the model pays once per process: the first module
    construction (parameter allocation and init) held the GIL for ~290 ms inside the first click's model build
    (benchmarks/gui_latency.py, quiet machine). A few tiny layers and one attention call, here, move that into
    the dock-opening prefetch."""
    import torch

    with torch.inference_mode():
        conv = torch.nn.Conv2d(3, 8, 4, stride=4)
        x = conv(torch.zeros(1, 3, 8, 8)).flatten(2).transpose(1, 2)
        x = torch.nn.Linear(8, 8)(torch.nn.LayerNorm(8)(x)).reshape(1, 1, 4, 8)
        torch.nn.functional.scaled_dot_product_attention(x, x, x).softmax(-1)


def _import_all() -> None:
    if _warmed and all(name in sys.modules for name in PREFETCH_MODULES):
        return  # the worker's call after a prefetch
    with torch_imports():
        with _one_full_collection():
            for name in PREFETCH_MODULES:
                with contextlib.suppress(Exception):  # a broken install is reported by the run that needs it
                    importlib.import_module(name)
        if not _warmed:
            with contextlib.suppress(Exception):  # only a warm-up: napari does it itself if this fails
                _warm_vispy()
            with contextlib.suppress(Exception):
                _warm_torch()
            _warmed.append(True)


def prefetch() -> None:
    """Start importing PREFETCH_MODULES in a background thread (once per process), when the dock opens.

    torch's import holds the GIL for 0.1–0.6 s at a time (CUDA libraries' dlopen, torch._C's init,
    unmarshalling): from a worker it still stalls the GUI, so it happens while the user sets up the run,
    not while the viewer should stay interactive during it. `wait_for_prefetch` joins it.
    """
    if _prefetch or (_warmed and all(name in sys.modules for name in PREFETCH_MODULES)):
        return
    thread = threading.Thread(target=_import_all, name="napari-focus import", daemon=True)
    _prefetch.append(thread)
    thread.start()


def prefetch_done() -> bool:
    """True once no prefetch thread is running (or none was needed)."""
    return not any(thread.is_alive() for thread in _prefetch)


def wait_for_prefetch() -> None:
    """Let a prefetch finish before importing the same modules (no two threads in torch's import at once)."""
    for thread in _prefetch:
        thread.join()


def geometry(layer: Any) -> tuple:
    """What the prepared layer data and curve depend on: the cube layer's scale, translate, bad bands and name."""
    bbl = layer.metadata.get("bbl")
    return (tuple(float(v) for v in layer.scale), tuple(float(v) for v in layer.translate),
            None if bbl is None else [int(b) for b in bbl], str(layer.name))


#: the Explain dock's key for FOCUS with its curve refined by more forward passes
REFINED = "focus_refined"


def job(cube: Cube, model: Any, class_name: Any, method: str, leaf: Any,
        layer_geometry: tuple = (None, None, None, "cube"), on_tile: Any = None, should_stop: Any = None):
    """Worker body: leave the GUI a core on small machines, then run the core's steps.

    Returns what the GUI thread needs besides the explanation, prepared here: the model (its classes and
    groups), and the layer data (contrast limits), the curve and the napari layer objects for the layer's geometry
    at the click.
    Importing `explain_layers` (scipy.stats) and scanning T on the GUI thread stalled it ~1 s.
    """
    wait_for_prefetch()
    _import_all()  # no-op after a prefetch
    with torch_imports():
        import torch

        from ..explain_job import default_checkpoint, explain_steps, load_model
        from ..explain_layers import curve_from_explanation, render_ahead, saliency_layer_data
        from .result_layers import build_layers

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    yield 0, 3, "loading model"
    model = load_model(model if model is not None else default_checkpoint(cube))
    refine = method == REFINED  # the dock's method list offers FOCUS's refined curve as a method of its own
    exp = yield from explain_steps(cube, model, class_name=class_name, method="focus" if refine else method,
                                   leaf_mask=leaf, on_tile=on_tile, should_stop=should_stop, refine=refine)
    render_ahead(exp)  # here, not in napari's first slice on the GUI thread
    scale, translate, bbl, name = layer_geometry
    layer_data = saliency_layer_data(exp, scale, translate, name, bbl)
    built = build_layers(layer_data, exp.leaf_mask, scale, translate)
    prepared = (layer_geometry, layer_data, curve_from_explanation(exp, model, bbl), built)
    return exp, model, prepared  # the GUI needs the model's classes and groups: never load it on the GUI thread
