"""Faults without loss (docs/robustness.md): a run killed with SIGKILL at its most dangerous instant loses nothing.

The child process replaces `os.replace` with one that SIGKILLs the process itself just before a chosen
rename: (a) `napari-focus train` after moving the existing checkpoint aside and before putting the new
one in place; (b) a batch explain just before the second cube's finished folder is renamed into place.
"""

import json
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_focus.batch import JOB, SUMMARY  # noqa: E402
from napari_focus.cli import main  # noqa: E402
from napari_focus.cube_io import read_cube  # noqa: E402
from napari_focus.dataset import write_manifest  # noqa: E402
from napari_focus.outputs import RESULT_MARKER  # noqa: E402

from .test_batch import FILES, summary, write_cubes  # noqa: E402

CHILD = """
import os, signal, sys
real, calls = os.replace, []
def replace(src, dst, *a, **k):
    if {marker!r} in os.path.basename(str(src)):
        calls.append(src)
        if len(calls) == {nth}:
            os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst, *a, **k)
os.replace = replace
from napari_focus.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_killed(marker: str, nth: int, args: list[str], tmp_path) -> subprocess.CompletedProcess:
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", CHILD.format(marker=marker, nth=nth), *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_killed_training_keeps_the_previous_checkpoint(tiny_checkpoint, tmp_path):
    from safetensors.torch import save_file
    from timm.models.vision_transformer import VisionTransformer

    from napari_focus.focus.checkpoint import load_checkpoint

    data = write_cubes(tmp_path / "data", 4)
    write_manifest(data, [{"file": f"leaf{i:02d}.hdr", "label": ["healthy", "bls"][i % 2], "split": "train"}
                          for i in range(4)])
    kw = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=0)
    state = {k: v.contiguous() for k, v in VisionTransformer(**kw).state_dict().items()}
    save_file(state, str(data / "bb.safetensors"))
    (data / "backbone.json").write_text(json.dumps({"kwargs": kw, "weights_file": "bb.safetensors"}))
    ck = shutil.copytree(tiny_checkpoint, tmp_path / "ck")
    before = {p.name: p.read_bytes() for p in ck.iterdir()}

    res = run_killed(".tmp-", 1, ["train", "--data", str(data), "--out", str(ck), "--backbone-file",
                                  str(data / "backbone.json"), "--groups", "2", "--epochs", "1", "--batch-size", "4"],
                     tmp_path)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert not ck.exists()  # killed between the two renames: the old checkpoint is only at .ck.old-*
    model = load_checkpoint(ck)  # the interrupted save is rolled back
    assert {p.name: p.read_bytes() for p in ck.iterdir()} == before
    assert model.checkpoint_sha256 == load_checkpoint(tiny_checkpoint).checkpoint_sha256
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ck.old-")]


def test_killed_batch_leaves_no_partial_output_and_resumes(tiny_checkpoint, tmp_path, capsys):
    src = write_cubes(tmp_path / "cubes", 3, seed=2)
    out = tmp_path / "out"
    args = ["explain", str(src), "--model", str(tiny_checkpoint), "--out", str(out)]
    res = run_killed(".partial-", 2, args, tmp_path)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert visible == ["leaf00", RESULT_MARKER, SUMMARY]  # the second cube was written but never renamed into place
    assert [p.name.split(".partial-")[0] for p in out.iterdir() if ".partial-" in p.name] == [".leaf01"]
    assert sorted(p.name for p in (out / "leaf00").iterdir()) == sorted(FILES)
    assert read_cube(out / "leaf00" / "saliency.hdr").data.shape == (12, 24, 24)
    assert [(r["output"], r["status"]) for r in summary(out)] == [("leaf00", "ok")]
    stamp = (out / "leaf00" / JOB).stat().st_mtime_ns

    assert main(args) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (again["skipped"], again["explained"], again["failed"]) == (1, 2, 0)
    assert (out / "leaf00" / JOB).stat().st_mtime_ns == stamp
    assert sorted(p.name for p in out.iterdir()) == ["leaf00", "leaf01", "leaf02", RESULT_MARKER, SUMMARY]
    assert [r["status"] for r in summary(out)] == ["ok"] * 3
    assert np.isfinite(np.asarray(read_cube(out / "leaf01" / "saliency.hdr").data)).all()
