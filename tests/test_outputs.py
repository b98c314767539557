"""Output paths: a user's file or folder is never replaced, moved or deleted; napari-focus's own are.

The CLI refuses such an `--out` in one line with exit status 2 before it reads any data or imports torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from napari_focus.cli import main
from napari_focus.outputs import (
    RESULT_MARKER,
    OutputRefused,
    check_out,
    check_train_out,
    is_result_folder,
    mark_result_folder,
    train_state_dir,
)


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` (hidden ones included) with its bytes: what 'nothing changed' compares."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("the user's notes")
    return mine


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    f = tmp_path / "afile.txt"
    f.write_text("the user's file")
    return f


@pytest.mark.parametrize("kind", ["checkpoint", "result", "train-state"])
def test_new_and_empty_paths_are_allowed(tmp_path, kind):
    assert check_out(tmp_path / "new" / "deeper", kind) == tmp_path / "new" / "deeper"
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty", kind)


@pytest.mark.parametrize("kind", ["checkpoint", "result", "train-state"])
def test_user_folder_and_file_are_refused(user_folder, user_file, kind):
    with pytest.raises(OutputRefused, match="not empty"):
        check_out(user_folder, kind)
    with pytest.raises(OutputRefused, match="is a file"):
        check_out(user_file, kind)


def test_own_folders_are_recognised(tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "config.json").write_text(json.dumps({"format": "napari-focus-checkpoint"}))
    check_out(ck, "checkpoint")
    with pytest.raises(OutputRefused):
        check_out(ck, "result")  # a checkpoint is not a place to write results into
    res = tmp_path / "res"
    res.mkdir()
    (res / "prediction.json").write_text("{}")
    assert not is_result_folder(res)
    mark_result_folder(res, "explanation")
    assert is_result_folder(res)
    check_out(res, "result")
    state = tmp_path / "st"
    state.mkdir()
    for name in ("state.json", "state-epoch0001.safetensors", ".state-epoch0002.safetensors.new-0a1b2c3d"):
        (state / name).write_text("x")
    check_out(state, "train-state")
    (state / "notes.txt").write_text("mine")
    with pytest.raises(OutputRefused):
        check_out(state, "train-state")


def test_a_foreign_config_json_is_not_a_checkpoint(tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(OutputRefused):
        check_out(ck, "checkpoint")


def test_uncreatable_and_dangling_paths_are_refused(user_file, tmp_path):
    with pytest.raises(OutputRefused, match="cannot be created"):
        check_out(user_file / "sub" / "out", "result")
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputRefused, match="broken symbolic link"):
        check_out(link, "checkpoint")


def test_the_training_state_beside_the_checkpoint_is_checked_too(tmp_path):
    out = tmp_path / "ck"
    state = train_state_dir(out)
    assert state == (tmp_path / "ck.partial").resolve()
    state.mkdir()
    (state / "thesis.tex").write_text("mine")
    with pytest.raises(OutputRefused, match="ck.partial"):
        check_train_out(out)


def _refused(capsys, argv: list[str]) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize("target", ["user_folder", "user_file"])
def test_train_refuses_a_users_out_before_reading_data(request, tmp_path, capsys, target):
    out = request.getfixturevalue(target)
    before = _tree(tmp_path)
    # the data folder does not exist: the refusal must come first, so it names --out, not the data
    err = _refused(capsys, ["train", "--data", str(tmp_path / "no-such-data"), "--out", str(out)])
    assert str(out) in err and "no-such-data" not in err
    assert _tree(tmp_path) == before


def test_train_refuses_a_users_folder_named_like_its_state(tmp_path, capsys):
    (tmp_path / "ck.partial").mkdir()
    (tmp_path / "ck.partial" / "keep.txt").write_text("mine")
    before = _tree(tmp_path)
    err = _refused(capsys, ["train", "--data", str(tmp_path / "nodata"), "--out", str(tmp_path / "ck"), "--restart"])
    assert "ck.partial" in err
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("target", ["user_folder", "user_file"])
def test_explain_refuses_a_users_out_before_reading_the_cube(request, tmp_path, capsys, target):
    out = request.getfixturevalue(target)
    before = _tree(tmp_path)
    err = _refused(capsys, ["explain", str(tmp_path / "no-such-cube.hdr"), "--out", str(out)])
    assert str(out) in err and "no-such-cube" not in err
    assert _tree(tmp_path) == before


def test_explain_refuses_an_out_that_cannot_be_created(user_file, tmp_path, capsys):
    before = _tree(tmp_path)
    err = _refused(capsys, ["explain", str(tmp_path / "c.hdr"), "--out", str(user_file / "out")])
    assert "cannot be created" in err
    assert _tree(tmp_path) == before


def test_batch_refuses_a_users_out(user_folder, tmp_path, capsys):
    cubes = tmp_path / "cubes"
    cubes.mkdir()
    before = _tree(tmp_path)
    _refused(capsys, ["explain", str(cubes), "--out", str(user_folder)])
    assert _tree(tmp_path) == before


def test_refusal_happens_without_importing_torch(user_folder, tmp_path):
    code = ("import sys; from napari_focus.cli import main; rc = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    for argv in (["train", "--data", str(tmp_path), "--out", str(user_folder)],
                 ["explain", str(tmp_path / "c.hdr"), "--out", str(user_folder)]):
        run = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        assert run.returncode == 2, run.stderr
        assert run.stderr.count("\n") == 1 and "keep.txt" not in run.stderr
    assert (user_folder / "keep.txt").read_text() == "the user's notes"


def test_result_marker_name_is_visible():
    assert not RESULT_MARKER.startswith(".")  # a user sees why the folder is napari-focus's
