"""The benchmark's cell cache: a cell is computed once, stored whole, and two processes never compute one cell twice."""

from __future__ import annotations

import os
import subprocess
import sys

from napari_focus.bench.cells import CellCache

CONFIG = {"kind": "train", "seed": 0}


def test_a_cell_is_computed_once_then_read(tmp_path):
    calls = []
    cache = CellCache(tmp_path)
    assert cache.run(CONFIG, lambda: calls.append(1) or {"acc": 0.5}, "cell") == {"acc": 0.5}
    assert CellCache(tmp_path).run(CONFIG, lambda: calls.append(1) or {"acc": 0.9}, "cell") == {"acc": 0.5}
    assert calls == [1]
    assert [p.name for p in (tmp_path / "cells").iterdir()] == [cache.path(CONFIG).name]  # no claim is left behind


def test_a_cell_another_live_process_claims_is_skipped_not_computed_twice(tmp_path):
    logs: list[str] = []
    other = CellCache(tmp_path, log=logs.append)  # a second process on the same cache, reaching the same cell
    seen = []

    def compute():
        seen.append(other.run(CONFIG, lambda: {"acc": 0.9}, "cell"))
        return {"acc": 0.5}

    assert CellCache(tmp_path).run(CONFIG, compute, "cell") == {"acc": 0.5}
    assert seen == [None] and logs == ["skipping cell: another process is computing it"]
    assert other.run(CONFIG, lambda: {"acc": 0.9}, "cell") == {"acc": 0.5}  # once stored, the other reads it


def test_a_claim_left_by_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    cache = CellCache(tmp_path)
    claim = cache.path(CONFIG).with_name(f".claim-{cache.path(CONFIG).stem}")
    claim.parent.mkdir(parents=True)
    claim.write_text(str(dead.pid))
    assert cache.run(CONFIG, lambda: {"acc": 0.5}, "cell") == {"acc": 0.5}
    assert not claim.exists()


def test_a_claim_held_by_a_live_process_blocks(tmp_path):
    cache = CellCache(tmp_path)
    claim = cache.path(CONFIG).with_name(f".claim-{cache.path(CONFIG).stem}")
    claim.parent.mkdir(parents=True)
    claim.write_text(str(os.getppid()))  # alive, and not this process
    assert cache.run(CONFIG, lambda: {"acc": 0.5}, "cell") is None
    assert claim.read_text() == str(os.getppid()) and not cache.path(CONFIG).exists()


def test_a_measurement_waits_until_no_other_process_computes(tmp_path, monkeypatch):
    cache = CellCache(tmp_path)
    claim = cache.path(CONFIG).with_name(f".claim-{cache.path(CONFIG).stem}")
    claim.parent.mkdir(parents=True)
    claim.write_text(str(os.getppid()))  # another live process is computing a cell
    assert cache.others_computing() == 1
    sleeps = []

    def sleep(seconds):  # the other process finishes while this one waits
        sleeps.append(seconds)
        claim.unlink()

    monkeypatch.setattr("napari_focus.bench.cells.time.sleep", sleep)
    cache.wait_alone("cost")
    assert sleeps == [30.0] and cache.others_computing() == 0
    cache.wait_alone("cost")  # alone: returns at once
    assert sleeps == [30.0]


def test_a_cell_whose_needed_cell_another_process_computes_is_skipped_not_computed_twice(tmp_path):
    """Two evaluations need one training: the second process skips its evaluation instead of training again."""
    logs: list[str] = []
    train = {"kind": "train", "seed": 0}
    other = CellCache(tmp_path, log=logs.append)
    trainings, seen = [], []

    def evaluation(cache, name):
        return lambda: {"acc": cache.run(train, lambda: trainings.append(name) or {"w": 1}, "train")["w"]}

    def train_first():  # while this process trains, the other reaches the same training through its evaluation
        seen.append(other.run({"kind": "eval", "rule": "b"}, evaluation(other, "other"), "eval b"))
        trainings.append("this")
        return {"w": 1}

    cache = CellCache(tmp_path)
    assert cache.run({"kind": "eval", "rule": "a"}, lambda: {"acc": cache.run(train, train_first, "train")["w"]},
                     "eval a") == {"acc": 1}
    assert trainings == ["this"] and seen == [None]
    assert logs == ["computing eval b …", "skipping eval b: another process is computing train, which it needs"]
    assert not other.path({"kind": "eval", "rule": "b"}).exists()
    assert not list((tmp_path / "cells").glob(".claim-*"))  # the skipped cell's claim is released
    assert other.run({"kind": "eval", "rule": "b"}, evaluation(other, "other"), "eval b") == {"acc": 1}
    assert trainings == ["this"]  # the training stored by the first process is read, not repeated
