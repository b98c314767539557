"""Batch explain: a folder or glob of cubes, one output folder each, summary.csv, resume, Dask distributed."""

import csv
import json

import h5py
import numpy as np
import pytest

pytest.importorskip("torch")

from napari_focus.batch import JOB, SUMMARY, find_cubes, make_job, output_names, run_batch  # noqa: E402
from napari_focus.cli import main  # noqa: E402
from napari_focus.cube_io import read_cube, write_envi  # noqa: E402
from napari_focus.outputs import RESULT_MARKER, mark_result_folder  # noqa: E402

WL = np.linspace(400.0, 1000.0, 12)
FILES = ("curve.csv", "figure.png", JOB, "prediction.json", "saliency.hdr", "saliency.img", "saliency_map.npy",
         RESULT_MARKER)


def write_cubes(folder, n, size=24, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cube = (0.1 + 0.4 * rng.random((12, size, size))).astype(np.float32)
        cube[:, 4:12, 4:12] += 0.2 * (i % 2)
        write_envi(folder / f"leaf{i:02d}.hdr", cube, wavelengths_nm=WL)
    return folder


def summary(out):
    with open(out / SUMMARY, newline="") as fh:
        return list(csv.DictReader(fh))


def test_folder_batch_summary_and_resume(tiny_checkpoint, tmp_path, capsys):
    src = write_cubes(tmp_path / "cubes", 3)
    with h5py.File(src / "mask.h5", "w") as f:  # claimed by the readers, but not a cube: an error row
        f["mask"] = np.ones((24, 24), bool)
    out = tmp_path / "out"
    assert main(["explain", str(src), "--model", str(tiny_checkpoint), "--out", str(out)]) == 1
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (res["cubes"], res["explained"], res["skipped"], res["failed"]) == (4, 3, 0, 1)
    rows = summary(out)
    assert [r["output"] for r in rows] == ["leaf00", "leaf01", "leaf02", "mask"]
    assert [r["status"] for r in rows[:3]] == ["ok"] * 3 and rows[3]["status"].startswith("error: ")
    assert list(rows[0])[:7] == ["file", "output", "status", "predicted", "explained_class", "p_healthy", "p_bls"]
    for r in rows[:3]:
        folder = out / r["output"]
        assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
        pred = json.loads((folder / "prediction.json").read_text())
        assert r["predicted"] == pred["predicted"] and float(r["p_bls"]) == pred["probabilities"]["bls"]
        assert [int(r[f"band_{i}"]) for i in range(1, 6)] == pred["top5_bands"]
        assert float(r["nm_1"]) == pytest.approx(WL[pred["top5_bands"][0]], abs=0.01)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]

    # the same command again resumes: nothing complete is redone; a different job redoes everything
    stamp = (out / "leaf01" / "saliency.img").stat().st_mtime_ns
    job = make_job(tiny_checkpoint)
    again = run_batch(str(src / "leaf*.hdr"), out, job)
    assert (again["cubes"], again["explained"], again["skipped"]) == (3, 0, 3)
    assert (out / "leaf01" / "saliency.img").stat().st_mtime_ns == stamp
    assert summary(out)[:3] == rows[:3]
    redo = run_batch(src / "leaf*.hdr", out, make_job(tiny_checkpoint, rule="paper"))
    assert (redo["explained"], redo["skipped"]) == (3, 0)
    assert json.loads((out / "leaf01" / JOB).read_text())["rule"] == "paper"


def test_a_users_folder_inside_the_output_is_never_replaced(tiny_checkpoint, tmp_path):
    """A folder the user made in a batch's output, named like a cube's result, gives an error row and stays."""
    src = write_cubes(tmp_path / "cubes", 2)
    out = tmp_path / "out"
    out.mkdir()
    mark_result_folder(out, "batch")  # an earlier run's output folder
    (out / "leaf00").mkdir()
    (out / "leaf00" / "keep.txt").write_text("mine")
    res = run_batch(src, out, make_job(tiny_checkpoint))
    assert (res["explained"], res["failed"]) == (1, 1)
    assert (out / "leaf00" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in (out / "leaf00").iterdir()) == ["keep.txt"]
    assert "not a napari-focus result folder" in summary(out)[0]["status"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_listing_and_names(tmp_path):
    a = write_cubes(tmp_path / "a", 2)
    np.save(a / "leaf00.npy", np.zeros((40, 4, 4), np.float32))
    found = find_cubes(a)
    assert [p.name for p in found] == ["leaf00.hdr", "leaf00.npy", "leaf01.hdr"]  # ENVI once, by its header
    assert output_names(found) == ["leaf00.hdr", "leaf00.npy", "leaf01"]


def test_workers_give_the_same_results(tiny_checkpoint, tmp_path):
    """Two worker processes on a LocalCluster write what the in-process run writes."""
    pytest.importorskip("distributed")
    src = write_cubes(tmp_path / "cubes", 3, seed=1)
    job = make_job(tiny_checkpoint)
    single = run_batch(src, tmp_path / "single", job)
    steps = []
    import dask

    # forked workers start with torch already imported (spawned ones import it again: ~10 s on 2 cores)
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):
        dist = run_batch(src, tmp_path / "dist", job, workers=2, progress=lambda d, t, i: steps.append((d, t)))
    assert single["explained"] == dist["explained"] == 3 and steps[-1] == (3, 3)
    a, b = tmp_path / "single", tmp_path / "dist"
    assert (a / SUMMARY).read_text() == (b / SUMMARY).read_text().replace(str(b), str(a))
    for name in ("leaf00", "leaf01", "leaf02"):
        for f in ("prediction.json", "curve.csv", JOB):
            assert (a / name / f).read_text() == (b / name / f).read_text(), (name, f)
        ta, tb = (np.asarray(read_cube(d / name / "saliency.hdr").data) for d in (a, b))
        np.testing.assert_array_equal(ta, tb)

    # an existing cluster, by its scheduler address (here an in-process one: the address path is what is tested)
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        res = run_batch(src, tmp_path / "remote", job, scheduler=cluster.scheduler_address)
    assert res["explained"] == 3 and (tmp_path / "remote" / SUMMARY).read_text() == (a / SUMMARY).read_text()


def test_single_file_by_tiles_and_per_leaf(tiny_checkpoint, tmp_path, capsys):
    src = write_cubes(tmp_path / "cubes", 1, size=64)
    out = tmp_path / "tiled"
    assert main(["explain", str(src / "leaf00.hdr"), "--model", str(tiny_checkpoint), "--out", str(out),
                 "--tile", "24", "--overlap", "0.5"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = (out / "tiles.csv").read_text().splitlines()
    assert res["tiles"] == len(rows) - 1 > 1 and (out / "saliency.hdr").is_file()
    labels = np.zeros((64, 64), np.int32)
    labels[2:30, 2:30], labels[34:60, 30:62] = 1, 2
    np.save(tmp_path / "labels.npy", labels)
    assert main(["explain", str(src / "leaf00.hdr"), "--model", str(tiny_checkpoint), "--out", str(tmp_path / "leaf"),
                 "--labels", str(tmp_path / "labels.npy")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["tiles"] == 2
    sal = np.asarray(read_cube(tmp_path / "leaf" / "saliency.hdr").data)
    assert sal.shape == (12, 64, 64) and (sal[:, labels == 0] == 0).all() and sal.max() > 0
    assert main(["explain", str(src / "leaf00.hdr"), "--model", str(tiny_checkpoint), "--out", str(out),
                 "--workers", "2"]) == 2
    with pytest.raises(SystemExit):
        main(["explain", str(src / "leaf00.hdr"), "--model", str(tiny_checkpoint), "--out", str(out), "--tile", "big"])


def test_half_saliency_and_the_model_recorded(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    """--saliency-dtype float16 writes saliency.npy (ENVI has no half type) that reads back with its wavelengths;
    none writes the map and curve only; every output names the model; a large T is announced before explaining."""
    from napari_focus import export

    src = write_cubes(tmp_path / "cubes", 2)
    full, half = tmp_path / "full", tmp_path / "half"
    assert main(["explain", str(src / "leaf00.hdr"), "--model", str(tiny_checkpoint), "--out", str(full)]) == 0
    monkeypatch.setattr(export, "SALIENCY_WARN_BYTES", 1000)  # 12 × 24 × 24 float16 values: 13.8 kB
    assert main(["explain", str(src / "leaf00.hdr"), "--model", str(tiny_checkpoint), "--out", str(half),
                 "--saliency-dtype", "float16"]) == 0
    assert "the saliency cube will take 0.0 GB on disk as float16" in capsys.readouterr().err
    assert not (half / "saliency.hdr").exists()
    got = read_cube(half / "saliency.npy")
    want = np.asarray(read_cube(full / "saliency.hdr").data)
    assert got.data.dtype == np.float16 and np.allclose(got.wavelengths_nm, WL, atol=1e-3)
    np.testing.assert_array_equal(np.asarray(got.data), want.astype(np.float16))  # float16's rounding, no more
    for folder in (full, half):
        pred = json.loads((folder / "prediction.json").read_text())
        assert pred["model"] == {"path": str(tiny_checkpoint.resolve()), "sha256": pred["model_sha256"]}
    assert json.loads((half / "prediction.json").read_text())["saliency_cube"] == "float16"

    out = tmp_path / "batch"
    assert main(["explain", str(src), "--model", str(tiny_checkpoint), "--out", str(out),
                 "--saliency-dtype", "none"]) == 0
    for name in ("leaf00", "leaf01"):
        files = {p.name for p in (out / name).iterdir()}
        assert files == set(FILES) - {"saliency.hdr", "saliency.img"}
        pred = json.loads((out / name / "prediction.json").read_text())
        assert pred["saliency_cube"] == "not written" and pred["model"]["path"] == str(tiny_checkpoint.resolve())
        assert json.loads((out / name / JOB).read_text())["saliency"] == "none"
