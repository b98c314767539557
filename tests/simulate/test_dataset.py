"""Dataset folders: the contract, round trip through the readers, determinism, CLI and bad input."""

import argparse
import csv
import hashlib
import json

import numpy as np
import pytest

from napari_focus.errors import FocusError
from napari_focus.simulate import make_dataset
from napari_focus.simulate.cli import register


@pytest.fixture(scope="module")
def bls_dir(tmp_path_factory):
    calls = []
    out = make_dataset(
        tmp_path_factory.mktemp("bls") / "ds",
        "bls",
        "vnir204",
        n=6,
        size=32,
        seed=4,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[-1] == (6, 6) and len(calls) == 6
    return out


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_manifest_and_ground_truth(bls_dir):
    rows = list(csv.DictReader((bls_dir / "manifest.csv").read_text().splitlines()))
    assert list(rows[0]) == ["file", "label", "target", "split", "leaf_mask", "lesion_mask"]
    assert [r["label"] for r in rows] == ["healthy", "bls"] * 3
    assert {r["split"] for r in rows} == {"train", "test"}
    gt = json.loads((bls_dir / "ground_truth.json").read_text())
    assert gt["task"] == "bls" and gt["classes"] == ["healthy", "bls"] and gt["generator"]["seed"] == 4
    for r in rows:
        assert (bls_dir / r["file"]).is_file() and (bls_dir / r["lesion_mask"]).is_file()


def test_round_trip_through_readers(bls_dir):
    spectral = pytest.importorskip("spectral")
    img = spectral.open_image(str(bls_dir / "leaf_00001.hdr"))
    refl = np.asarray(img.load())  # spectral applies the reflectance scale factor
    assert refl.shape == (32, 32, 204) and float(img.metadata["reflectance scale factor"]) == 10000
    counts = np.fromfile(bls_dir / "leaf_00001.img", dtype="<u2").reshape(204, 32, 32)
    assert np.allclose(np.transpose(refl, (2, 0, 1)), counts / 10000, atol=1e-6)
    assert np.allclose([float(w) for w in img.metadata["wavelength"]], np.linspace(400, 1000, 204), atol=1e-3)
    from napari_focus.dataset import load_dataset

    ds = load_dataset(bls_dir)
    item = ds.items[1]
    cube = item.cube()
    assert cube.data.shape == (204, 32, 32)
    assert np.allclose(np.asarray(cube.data), counts / 10000, atol=1e-6)
    assert np.allclose(cube.wavelengths_nm, np.linspace(400, 1000, 204), atol=1e-3)
    assert item.lesion_mask().any() and item.leaf_mask().shape == (32, 32)
    assert ds.ground_truth["gt_top5_nm"]["bls"]


def test_same_seed_identical_bytes(bls_dir, tmp_path):
    again = make_dataset(tmp_path / "again", "bls", "vnir204", n=6, size=32, seed=4)
    assert _digest(again) == _digest(bls_dir)
    other = make_dataset(tmp_path / "other", "bls", "vnir204", n=2, size=32, seed=5)
    assert _digest(other)["leaf_00000.img"] != _digest(bls_dir)["leaf_00000.img"]


def test_trait_dataset(tmp_path):
    out = make_dataset(tmp_path / "t", "trait", "vswir200", n=3, size=32, seed=0, trait="cw")
    rows = list(csv.DictReader((out / "manifest.csv").read_text().splitlines()))
    assert all(
        r["label"] == "" and 0.004 < float(r["target"]) < 0.03 and r["lesion_mask"] == "" for r in rows
    )
    assert json.loads((out / "ground_truth.json").read_text())["trait"] == "cw"


def test_refuses_non_empty_folder_unless_overwrite(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FocusError, match="not empty"):
        make_dataset(out, "genotype", "vnir204", n=1, size=32, seed=0)
    make_dataset(out, "genotype", "vnir204", n=1, size=32, seed=0, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine" and (out / "manifest.csv").is_file()


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(n=0), "positive"),
        (dict(task="x"), "unknown task"),
        (dict(sensor="x"), "unknown sensor"),
        (dict(size=5), "size"),
        (dict(trait="cab"), "trait"),
    ],
)
def test_bad_parameters(tmp_path, kwargs, msg):
    args = dict(task="bls", sensor="vnir204", n=1, size=32, seed=0) | kwargs
    with pytest.raises(FocusError, match=msg):
        make_dataset(tmp_path / "o", **args)


def _cli(argv):
    parser = argparse.ArgumentParser(prog="napari-focus")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    assert (
        _cli(
            [
                "simulate",
                "--task",
                "genotype",
                "--sensor",
                "vswir200",
                "--n",
                "4",
                "--size",
                "32",
                "--seed",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "wrote 4 leaves" in capsys.readouterr().out
    assert json.loads((out / "ground_truth.json").read_text())["classes"][3] == "D_water"
    with pytest.raises(FocusError, match="not empty"):
        _cli(["simulate", "--task", "bls", "--n", "1", "--size", "32", "--out", str(out)])
    with pytest.raises(FocusError, match="positive"):
        _cli(["simulate", "--task", "bls", "--n", "0", "--out", str(tmp_path / "z")])
