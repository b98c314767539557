"""Hostile input: every reader returns a valid Cube or raises CubeReadError naming the file (docs/robustness.md).

Seeds and mutations come from ``scripts/fuzz_readers.py`` (the longer standalone run, which reads each
input in a subprocess under a timeout and a memory limit); here hypothesis draws them, derandomised so
the suite is repeatable, and a SIGALRM watchdog bounds every read. See docs/robustness.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import signal
import struct
import subprocess
import sys
import tempfile
import tracemalloc
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from napari_focus.cube_io import read_cube
from napari_focus.errors import CubeReadError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fuzz_readers.py"
_spec = importlib.util.spec_from_file_location("fuzz_readers", SCRIPT)
FUZZ = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(FUZZ)

READ_SECONDS = 5
FUZZ_SETTINGS = settings(max_examples=40, deadline=timedelta(seconds=3), derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class ReadTimeout(BaseException):
    """Raised by the watchdog; a BaseException so no reader's ``except Exception`` can swallow it."""


@contextlib.contextmanager
def watchdog(seconds: float):
    def _fire(*_):
        raise ReadTimeout(f"read did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, _fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeds")
    return folder, FUZZ.write_seeds(folder)


def run_case(seeds, case: dict) -> tuple[str, str]:
    folder, _ = seeds
    with tempfile.TemporaryDirectory() as tmp:
        entry = FUZZ.apply_case(case, folder, Path(tmp) / "case")
        with watchdog(READ_SECONDS):
            return FUZZ.check_read(entry)


def assert_contract(seeds, case: dict) -> str:
    outcome, detail = run_case(seeds, case)
    assert outcome in FUZZ.GOOD, f"{outcome}: {detail}\ncase: {json.dumps(case)[:600]}"
    return outcome


ENVI_SEEDS = ("envi_bsq", "envi_bil", "envi_bip_via_data", "specim")
ALL_SEEDS = ENVI_SEEDS + ("tiff_pages", "tiff_stack", "npy_sidecar", "npz", "h5", "mat_v5", "mat_v5_zip", "mat_v73")


def _headers(seeds, name: str) -> list[str]:
    return [f for f in seeds[1][name]["files"] if f.endswith(".hdr")]


def test_seeds_are_valid(seeds):
    """The fuzzer starts from files every reader accepts (otherwise it only tests refusals)."""
    assert set(seeds[1]) == set(ALL_SEEDS)
    for name in ALL_SEEDS:
        assert run_case(seeds, {"seed": name, "entry": seeds[1][name]["entry"], "ops": []})[0] == "ok", name


def test_every_envi_field_with_every_hostile_value(seeds):
    """All 13 fields × 29 values, one at a time, on a header that uses every field."""
    outcomes = {}
    for field in FUZZ.HEADER_FIELDS:
        for kind in FUZZ.VALUE_KINDS:
            case = {"seed": "envi_bsq", "entry": "cube.hdr", "ops": [
                {"op": "field", "file": "cube.hdr", "field": field, "kind": kind}]}
            outcomes[(field, kind)] = assert_contract(seeds, case)
    # a test that can fail the other way: hostile sizes are refused, harmless changes still read
    for field in ("samples", "lines", "bands"):
        assert outcomes[(field, "huge")] == outcomes[(field, "negative")] == "CubeReadError"
    assert outcomes[("interleave", "alt_valid")] == outcomes[("byte order", "alt_valid")] == "ok"


@FUZZ_SETTINGS
@given(data=st.data())
def test_envi_headers_mutated(seeds, data):
    name = data.draw(st.sampled_from(ENVI_SEEDS), label="seed")
    files = _headers(seeds, name)
    op = st.one_of(
        st.fixed_dictionaries({"op": st.just("field"), "file": st.sampled_from(files),
                               "field": st.sampled_from(FUZZ.HEADER_FIELDS),
                               "kind": st.sampled_from(FUZZ.VALUE_KINDS)}),
        st.fixed_dictionaries({"op": st.just("lines"), "file": st.sampled_from(files),
                               "action": st.sampled_from(FUZZ.LINE_ACTIONS), "frac": st.floats(0, 1)}))
    ops = data.draw(st.lists(op, min_size=1, max_size=3), label="ops")
    assert_contract(seeds, {"seed": name, "entry": seeds[1][name]["entry"], "ops": ops})


@FUZZ_SETTINGS
@given(data=st.data())
def test_binary_files_truncated_flipped_or_replaced(seeds, data):
    name = data.draw(st.sampled_from(ALL_SEEDS), label="seed")
    files = [f for f in seeds[1][name]["files"] if not f.endswith((".hdr", ".txt"))]
    file = st.sampled_from(files)
    op = st.one_of(
        st.fixed_dictionaries({"op": st.just("truncate"), "file": file, "frac": st.floats(0, 1, exclude_max=True)}),
        st.fixed_dictionaries({"op": st.just("flip"), "file": file, "edits": st.lists(
            st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=32)}),
        st.fixed_dictionaries({"op": st.just("replace"), "file": file, "content": st.sampled_from(FUZZ.CONTENTS),
                               "size": st.integers(1, 4096), "rng": st.integers(0, 2**16)}))
    ops = data.draw(st.lists(op, min_size=1, max_size=2), label="ops")
    assert_contract(seeds, {"seed": name, "entry": seeds[1][name]["entry"], "ops": ops})


@pytest.mark.parametrize("text", FUZZ.SIDECAR_TEXTS)
def test_wavelength_sidecar_garbage(seeds, text):
    assert_contract(seeds, {"seed": "npy_sidecar", "entry": "cube.npy",
                            "ops": [{"op": "sidecar", "file": "cube.wavelengths.txt", "text": text}]})


@settings(max_examples=25, deadline=timedelta(seconds=3), derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300))
def test_wavelength_sidecar_any_text(seeds, text):
    assert_contract(seeds, {"seed": "npy_sidecar", "entry": "cube.npy",
                            "ops": [{"op": "sidecar", "file": "cube.wavelengths.txt", "text": text}]})


# ----------------------------------------------------------------------------- lying headers
def _refused_without_allocating(path: Path, match: str) -> None:
    """A size check, not a failed allocation, refuses it: the message says so and little memory is used."""
    tracemalloc.start()
    try:
        with watchdog(READ_SECONDS), pytest.raises(CubeReadError, match=match) as info:
            read_cube(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert path.name in str(info.value) or path.stem in str(info.value)
    assert "MemoryError" not in str(info.value) and peak < 32 << 20, peak


@pytest.mark.parametrize("field", ["samples", "lines", "bands", "header offset"])
def test_envi_lying_size_is_refused_before_allocation(seeds, tmp_path, field):
    entry = FUZZ.apply_case({"seed": "envi_bsq", "entry": "cube.hdr", "ops": [
        {"op": "field", "file": "cube.hdr", "field": field, "kind": "huge"}]}, seeds[0], tmp_path / "c")
    _refused_without_allocating(entry, "shorter than the header says")


def _npy_bytes(shape_text: str) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros((12, 9, 7), np.float32))
    raw = buf.getvalue()
    hlen = struct.unpack("<H", raw[8:10])[0]
    header = raw[10:10 + hlen].decode("latin-1").replace("(12, 9, 7)", shape_text).rstrip()
    return raw[:10] + (header.ljust(hlen - 1) + "\n").encode("latin-1") + raw[10 + hlen:]


def test_npz_member_with_lying_shape_is_refused_before_allocation(tmp_path):
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("cube.npy", _npy_bytes("(1000000, 1000000, 7)"))
    _refused_without_allocating(path, "claims .* bytes")


def test_tiff_with_lying_dimensions_is_refused_before_allocation(tmp_path):
    import tifffile

    path = tmp_path / "liar.tif"
    tifffile.imwrite(path, np.zeros((12, 9, 7), np.uint16))
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        for page in tif.pages:
            for tag in page.tags.values():
                if tag.name in ("ImageWidth", "ImageLength"):
                    struct.pack_into({3: "<H", 4: "<I"}[int(tag.dtype)], raw, tag.valueoffset, 60000)
    path.write_bytes(bytes(raw))
    _refused_without_allocating(path, "TIFF header claims")


def test_h5_with_a_huge_wavelength_dataset_is_refused_before_allocation(tmp_path):
    import h5py

    path = tmp_path / "liar.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("cube", data=np.zeros((12, 9, 7), np.float32))
        f.create_dataset("wavelengths", shape=(4_000_000_000,), dtype="f8", chunks=(1 << 20,))
    _refused_without_allocating(path, "longer than every axis")


def test_h5_declaring_exabytes_is_refused_not_sampled_for_minutes(tmp_path):
    """An unwritten chunked dataset of 10^18 values: slicing it lazily used to run for minutes."""
    import h5py

    path = tmp_path / "exa.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("cube", shape=(10**6, 10**6, 10**6), dtype="f4", chunks=(1, 64, 64))
    _refused_without_allocating(path, "declares .* bytes")


# ----------------------------------------------------------------------------- regressions found by fuzzing
def _mat5_variants(seed: Path, out: Path) -> list[Path]:
    """Inputs that crash scipy.io.loadmat (SIGBUS/SIGSEGV): an unknown element type, a reserved one, a
    complex flag with no imaginary part; plus that flag inside a compressed variable (scipy raises there)."""
    raw = seed.read_bytes()
    out.mkdir()
    paths = []
    for name, pos, value in (("type.mat", 185, 0x7F), ("reserved_type.mat", 3280, 8), ("complex.mat", 145, 0x08)):
        data = bytearray(raw)
        data[pos] = value
        paths.append(out / name)
        paths[-1].write_bytes(bytes(data))
    import scipy.io

    zipped = out / "zipped_source.mat"
    scipy.io.savemat(zipped, {"hsi": np.zeros((9, 7, 12), np.float32)}, do_compression=True)
    zraw = zipped.read_bytes()
    nbytes = struct.unpack_from("<I", zraw, 132)[0]
    inner = bytearray(zlib.decompress(zraw[136:136 + nbytes]))
    inner[17] |= 0x08  # array flags of the variable: complex
    packed = zlib.compress(bytes(inner))
    paths.append(out / "zipped_complex.mat")
    paths[-1].write_bytes(zraw[:128] + struct.pack("<II", 15, len(packed)) + packed)
    return paths


def test_mat5_inputs_that_crashed_scipy_are_refused_in_a_subprocess(seeds, tmp_path):
    paths = _mat5_variants(seeds[0] / "mat_v5" / "cube.mat", tmp_path / "mats")
    code = ("import json, sys\nfrom napari_focus.cube_io import read_cube\nfrom napari_focus.errors import "
            "CubeReadError\nfor p in sys.argv[1:]:\n    try:\n        read_cube(p)\n        print('ok')\n"
            "    except CubeReadError as e:\n        print('refused', e)\n")
    run = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"reader process died ({run.returncode}): {run.stderr[-800:]}"
    lines = run.stdout.splitlines()
    assert len(lines) == len(paths) and all(line.startswith("refused") for line in lines), run.stdout
    assert "unknown data type" in lines[0] and "imaginary" in lines[2] and "imaginary" in lines[3]


def test_wavelengths_matching_two_axes_pick_one_of_them(tmp_path):
    """(12, 12, 5) with 12 wavelengths: the square-image rule used to pick axis 2 and Cube raised ValueError."""
    np.savez(tmp_path / "sq.npz", cube=np.zeros((12, 12, 5), np.float32), wavelengths=np.linspace(400, 900, 12))
    cube = read_cube(tmp_path / "sq.npz")
    assert cube.shape == (12, 12, 5) and cube.wavelengths_nm.size == 12


@pytest.mark.parametrize("dtype", [[("a", "<f4")], "U3", "datetime64[s]"])
def test_non_numeric_npy_is_refused(tmp_path, dtype):
    np.save(tmp_path / "odd.npy", np.zeros((3, 4, 5), dtype=dtype))
    with pytest.raises(CubeReadError, match="odd.npy.*not numbers"):
        read_cube(tmp_path / "odd.npy")


def test_list_valued_units_scale_and_ignore_are_refused(seeds, tmp_path):
    for i, field in enumerate(("wavelength units", "reflectance scale factor", "data ignore value")):
        entry = FUZZ.apply_case({"seed": "envi_bsq", "entry": "cube.hdr", "ops": [
            {"op": "field", "file": "cube.hdr", "field": field, "kind": "list"}]}, seeds[0], tmp_path / f"c{i}")
        with pytest.raises(CubeReadError, match="cube.hdr"):
            read_cube(entry)


# ----------------------------------------------------------------------------- the napari reader
def test_napari_reader_never_raises_for_a_claimed_file(seeds, tmp_path):
    from napari_focus import _reader

    rng = __import__("random").Random(3)
    sizes = {}
    cases = [FUZZ.random_case(rng, seeds[1], sizes) for _ in range(25)]
    entries = [FUZZ.apply_case(c, seeds[0], tmp_path / f"case{i}") for i, c in enumerate(cases)]
    empty = tmp_path / "empty.hdr"
    empty.write_bytes(b"")
    entries.append(empty)
    with mock.patch("napari.utils.notifications.show_error") as show_error, \
            mock.patch("napari.utils.notifications.show_info"):
        refused = 0
        for entry in entries:
            if not _reader.get_reader(str(entry)):
                continue
            show_error.reset_mock()
            with watchdog(READ_SECONDS):
                layers = _reader.read_cubes(str(entry))
            assert isinstance(layers, list) and layers
            if layers == [(None,)]:
                refused += 1
                show_error.assert_called_once()
                assert entry.name in show_error.call_args.args[0]
        assert refused >= 5  # the sample holds refusals, so the notification path was exercised
        with mock.patch.object(_reader, "read_cube", side_effect=RuntimeError("boom")):
            assert _reader.read_cubes(str(empty)) == [(None,)]
        assert "RuntimeError: boom" in show_error.call_args.args[0]


def test_standalone_fuzzer_runs_in_subprocesses(tmp_path):
    """The long script: per-read timeout and memory limit in a worker process; a short run must be clean."""
    out = tmp_path / "summary.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--n", "150", "--seconds", "30", "--seed", "7",
                          "--json", str(out)], capture_output=True, text=True, timeout=120)
    summary = json.loads(out.read_text())
    assert run.returncode == 0, run.stdout[-2000:]
    assert summary["inputs"] == 150 and set(summary["outcomes"]) <= set(FUZZ.GOOD)
    assert summary["outcomes"].get("CubeReadError", 0) > 0 and summary["outcomes"].get("ok", 0) > 0
