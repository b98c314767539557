"""The Fine-tune dock as a user drives it: opened from the manifest, a training set from image layers or
from a painted Labels layer, training off the GUI thread with a live plot, cancel keeping the old model
bit-identical, the Explain dock switching to the new model, and a saved checkpoint that reloads."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_focus._qt.finetune_dock import FinetuneDock

torch = pytest.importorskip("torch")

WL = np.linspace(400.0, 1000.0, 12)  # the tiny checkpoint's bands


def _dock(viewer) -> FinetuneDock:
    _, dock = viewer.window.add_plugin_dock_widget("napari-focus", "Fine-tune")
    return dock


def _leaf(seed: int, diseased: bool, size: int = 16) -> np.ndarray:
    """A 12-band square 'leaf' whose spectrum differs by class (red-edge lower when diseased)."""
    rng = np.random.default_rng(seed)
    spectrum = np.linspace(0.1, 0.5, 12) - (0.15 * (WL > 650) * (WL < 800) if diseased else 0)
    return (spectrum[:, None, None] * (1 + 0.1 * rng.random((12, size, size)))).astype(np.float32)


def _add_leaves(viewer, n_per_class: int = 3) -> list[str]:
    names = []
    for i in range(2 * n_per_class):
        name = f"leaf {i}"
        viewer.add_image(_leaf(i, i % 2 == 1), name=name, metadata={"wavelengths_nm": list(WL)})
        names.append(name)
    return names


def _wait(qtbot, dock) -> None:
    qtbot.waitUntil(lambda: not dock.running, timeout=60_000)


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("backbone.")}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_through_dock_updates_plot_hands_over_and_saves(make_napari_viewer, qtbot, tmp_path, tiny_checkpoint):
    viewer = make_napari_viewer()
    names = _add_leaves(viewer)
    _, explain = viewer.window.add_plugin_dock_widget("napari-focus", "Explain (FOCUS)")
    dock = _dock(viewer)
    assert isinstance(dock, FinetuneDock)
    dock.set_start_checkpoint(tiny_checkpoint)
    for i, name in enumerate(names):
        dock.editor.set_label(name, "bls" if i % 2 else "healthy")
    assert "healthy: 3 · bls: 3" in dock.editor.summary.text() and dock.train_button.isEnabled()
    dock.epochs.setValue(3)
    seen, said = [], []
    dock.progress.valueChanged.connect(seen.append)
    set_text = dock.status.setText
    dock.status.setText = lambda text: (said.append(text), set_text(text))
    assert dock.start() is not None and dock.train_button.text() == "Cancel"
    _wait(qtbot, dock)
    assert dock.train_button.text() == "Train"
    assert dock.model is not None, dock.status.text()
    assert max(seen) > 0  # the progress bar moved
    assert any(t.startswith("epoch 1/3 · loss") and "ETA" in t for t in said), said
    assert len(dock.plot.batch_loss) >= 3 and len(dock.plot.epoch_loss) == 3
    assert len(dock.plot.scores) == 3  # one held-out image per class
    assert dock.result.score_before is not None  # the start's held-out score, to compare the new one with
    # the Explain dock now uses the new model
    assert explain.model_box.currentData() == dock.model_key
    assert [explain.class_box.itemText(i) for i in range(explain.class_box.count())][1:] == ["healthy", "bls"]
    # saved checkpoint reloads with the same weights and explains
    from napari_focus.focus.checkpoint import load_checkpoint
    from napari_focus.focus.explain import explain as run_explain

    out = dock.save(tmp_path / "mine")
    back = load_checkpoint(out)
    trained = dock.model.trainable_named()
    assert all(torch.equal(p.cpu(), trained[n].cpu()) for n, p in back.trainable_named().items())
    cube = viewer.layers["leaf 1"]
    from napari_focus.cube import Cube

    exp = run_explain(back, Cube.from_layer(cube.data, cube.metadata))
    assert exp.T.shape == cube.data.shape and exp.predicted in ("healthy", "bls")


def _errors(notifications):
    return [n.message for n in notifications if n.severity == "error"]


def test_save_refuses_a_users_file_or_folder(make_napari_viewer, tmp_path, users_files, notifications):
    dock = _dock(make_napari_viewer())
    dock.model = object()  # refused before the model is looked at
    mine, afile = users_files
    for target in (mine, afile):
        assert dock.save(target) is None
        err = [n.message for n in notifications if n.severity == "error"][-1]
        assert "refusing" in err and str(target) in err
    assert (mine / "keep.txt").read_text() == "mine" and afile.read_text() == "mine too"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile.txt", "mine"]


def test_set_from_layers_counts_refusals_and_class_edits(make_napari_viewer, notifications):
    viewer = make_napari_viewer()
    names = _add_leaves(viewer, n_per_class=2)
    viewer.add_image(np.zeros((8, 8)), name="flat")  # 2-D: not offered
    dock = _dock(viewer)
    ed = dock.editor
    assert [ed.cubes_table.item(r, 0).text() for r in range(ed.cubes_table.rowCount())] == names
    ed.set_label(names[0], "healthy")
    ed.set_label(names[1], "diseased")
    ed.set_label(names[2], "healthy")
    assert "healthy: 2 · diseased: 1" in ed.summary.text() and "'diseased' has 1 sample" in ed.summary.text()
    assert not dock.train_button.isEnabled()
    assert dock.start() is None and "'diseased' has 1 sample" in _errors(notifications)[-1]
    ed.set_label(names[3], "diseased")
    assert ed.ready and dock.train_button.isEnabled()
    # the class list drives the drop-downs: rename follows, remove unassigns
    assert ed.rename_class("diseased", "bls") and ed.cube_assign["classification"][names[1]] == "bls"
    assert ed.cubes_table.cellWidget(1, 1).currentText() == "bls"
    assert not ed.rename_class("bls", "healthy")  # taken
    new = ed.add_class()
    assert new in [ed.class_list.item(i).text() for i in range(ed.class_list.count())]
    ed.remove_class("bls")
    assert names[1] not in ed.cube_assign["classification"] and not ed.ready
    # regression: a number per cube, validated
    ed.set_task("regression")
    ed.set_label(names[0], "41.5")
    ed.set_label(names[1], "lots")
    assert "'lots', not a number" in ed.summary.text() and not ed.ready
    ed.set_label(names[1], "30")
    assert "samples: 2" in ed.summary.text() and ed.ready
    assert [s.label for s in ed.build().samples] == [41.5, 30.0]


def test_set_from_a_painted_labels_layer(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    img = np.concatenate([np.concatenate([_leaf(i, i % 2 == 1)] * 1, 2) for i in range(2)], 2)  # (12, 16, 32)
    viewer.add_image(img, name="tray", metadata={"wavelengths_nm": list(WL)})
    dock = _dock(viewer)
    ed = dock.editor
    ed.set_mode("regions")
    viewer.layers.selection.active = viewer.layers["tray"]
    paint = ed.new_labels_layer()
    assert paint.data.shape == (16, 32) and ed.pairs[paint.name] == "tray"
    assert "empty" in ed.summary.text()
    lab = np.zeros((16, 32), np.int32)
    lab[1:7, 1:7], lab[9:15, 1:7] = 1, 1  # two healthy leaves
    lab[1:7, 17:23], lab[9:15, 17:23] = 2, 2  # two diseased ones
    lab[1:5, 26:30] = 3  # a third value with no class yet
    lab[12, 28] = 3  # a stray brush stroke: too small to be a leaf
    paint.data = lab
    qtbot.waitUntil(lambda: ed.legend_table.rowCount() == 3)  # recounted after painting
    assert "no samples yet" in ed.summary.text()  # values have no class until the legend says
    ed.set_legend(1, "healthy")
    ed.set_legend(2, "diseased")
    assert "healthy: 2 · diseased: 2" in ed.summary.text() and ed.ready
    rows = {ed.legend_table.item(r, 0).text(): ed.legend_table.item(r, 1).text()
            for r in range(ed.legend_table.rowCount())}
    assert rows == {"1": "2", "2": "2", "3": "1"}
    ts = ed.build()
    assert len(ts) == 4 and ts.samples[0].cube.data.shape == (12, 6, 6) and set(ts.images) == {"tray"}
    # a Labels layer of another size is not offered for this image; pairing it anyway is refused clearly
    viewer.add_labels(np.ones((10, 10), np.int32), name="elsewhere")
    row = [ed.labels_table.item(r, 0).text() for r in range(ed.labels_table.rowCount())].index("elsewhere")
    box = ed.labels_table.cellWidget(row, 1)
    assert [box.itemText(i) for i in range(box.count())] == ["— not used —"]
    ed.pair("elsewhere", "tray")
    assert "have shape (10, 10) but image 'tray' is 16×32" in ed.summary.text() and not ed.ready


def test_cancel_or_error_keeps_the_previous_model_bit_identical(make_napari_viewer, qtbot, tiny_checkpoint,
                                                                notifications):
    from napari_focus.explain_job import load_model

    viewer = make_napari_viewer()
    names = _add_leaves(viewer, n_per_class=2)
    _, explain = viewer.window.add_plugin_dock_widget("napari-focus", "Explain (FOCUS)")
    explain.set_model_folder(tiny_checkpoint)
    cached = _state(load_model(tiny_checkpoint))
    dock = _dock(viewer)
    dock.start_box.setCurrentIndex(dock.start_box.findData("explain"))  # the Explain dock's model
    for i, name in enumerate(names):
        dock.editor.set_label(name, "bls" if i % 2 else "healthy")
    dock.epochs.setValue(2)
    dock.start()
    _wait(qtbot, dock)
    first, key = dock.model, dock.model_key
    assert first is not None and _same(_state(load_model(tiny_checkpoint)), cached)  # trained a copy
    before = _state(first)
    # cancel (twice: harmless) right after starting
    dock.epochs.setValue(50)
    assert dock.start() is not None
    dock.cancel()
    dock.train_button.click()  # the button is Cancel now
    _wait(qtbot, dock)
    assert "cancelled" in dock.status.text() and dock.model is first and _same(_state(first), before)
    assert explain.model_box.currentData() == key
    dock.cancel()  # idle: nothing happens
    # an error (a backbone file that does not exist) is a notification; nothing changes
    dock.start_box.setCurrentIndex(dock.start_box.findData("other"))
    dock.backbone_file.setText("/nonexistent/weights.safetensors")
    dock.start()
    _wait(qtbot, dock)
    assert "backbone file not found" in _errors(notifications)[-1]
    assert dock.model is first and _same(_state(first), before) and explain.model_box.currentData() == key


def test_closing_the_dock_while_training_stops_it(make_napari_viewer, qtbot, tiny_checkpoint):
    viewer = make_napari_viewer()
    names = _add_leaves(viewer, n_per_class=2)
    dock = _dock(viewer)
    dock.set_start_checkpoint(tiny_checkpoint)
    for i, name in enumerate(names):
        dock.editor.set_label(name, "bls" if i % 2 else "healthy")
    dock.epochs.setValue(500)
    assert dock.start() is not None
    viewer.window.remove_dock_widget(dock)
    _wait(qtbot, dock)
    assert dock.model is None and "cancelled" in dock.status.text()


def test_a_worse_model_is_offered_not_switched_in_and_the_demo_note_stays(make_napari_viewer, qtbot, monkeypatch,
                                                                         tiny_checkpoint, notifications):
    """A fine-tuned model scoring below the start on the held-out images is listed, not used, with a warning; the
    ETA never claims 0:00 for a stage without progress; a model on the demonstration backbone keeps its note."""
    import json
    import time
    from types import SimpleNamespace

    import napari_focus.finetune_job as fj
    from napari_focus.explain_job import DEMO_BACKBONE_NOTE, embedded_checkpoints

    viewer = make_napari_viewer()
    names = _add_leaves(viewer, n_per_class=2)
    _, explain = viewer.window.add_plugin_dock_widget("napari-focus", "Explain (FOCUS)")
    explain.set_model_folder(tiny_checkpoint)
    dock = _dock(viewer)
    dock.set_start_checkpoint(tiny_checkpoint)
    for i, name in enumerate(names):
        dock.editor.set_label(name, "bls" if i % 2 else "healthy")
    sha = json.loads((embedded_checkpoints()[0] / "config.json").read_text())["backbone"]["sha256"]
    model = SimpleNamespace(classes=["healthy", "bls"], task="classification",
                            backbone_spec=SimpleNamespace(sha256=sha))
    history = SimpleNamespace(val_score=[0.7], loss=[0.5], seconds=1.0, cancelled=False)

    def worse(ts, start, settings, progress=None, should_stop=None, on_epoch=None):
        progress(0, 1, {"stage": "loading model"})
        time.sleep(0.3)  # loading takes a while: the GUI shows the step before the result
        return fj.FinetuneResult(model, history, n_train=2, n_held=2, score_before=0.9)

    monkeypatch.setattr(fj, "run_finetune", worse)
    said = []
    set_text = dock.status.setText
    dock.status.setText = lambda text: (said.append(text), set_text(text))
    qtbot.mouseClick(dock.train_button, Qt.MouseButton.LeftButton)
    _wait(qtbot, dock)
    assert any(t.startswith("loading model") and "so far" in t for t in said), said
    assert not any("ETA 0:00" in t for t in said)
    assert "fell from 0.90" in dock.status.text() and "fell from 0.90" in notifications[-1].message
    assert explain.model_box.currentData() == str(tiny_checkpoint)  # kept
    assert explain.model_box.findData(dock.model_key) >= 0  # but offered
    explain.model_box.setCurrentIndex(explain.model_box.findData(dock.model_key))
    assert explain.demo_note.text() == DEMO_BACKBONE_NOTE


def test_raw_counts_are_refused_before_training(make_napari_viewer, tiny_checkpoint, notifications):
    viewer = make_napari_viewer()
    names = _add_leaves(viewer)
    counts = (_leaf(9, False) * 8000).astype(np.uint16)  # a camera's counts: no leaf-like reflectance ÷ 10 000
    viewer.add_image(counts, name="counts", metadata={"wavelengths_nm": list(WL)})
    dock = _dock(viewer)
    dock.set_start_checkpoint(tiny_checkpoint)
    for i, name in enumerate(names + ["counts"]):
        dock.editor.set_label(name, "bls" if i % 2 else "healthy")
    assert dock.start() is None and not dock.running
    err = _errors(notifications)[-1]
    assert err.startswith("napari-focus cannot fine-tune: image 'counts': raw counts, not reflectance"), err
