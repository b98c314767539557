"""The Explain dock's model box reads a chosen checkpoint's classes; a hostile config.json gives none, no
traceback (loading the model then refuses it in one line)."""

from __future__ import annotations

import pytest

from napari_focus._qt.explain_inputs import model_offer


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "[1, 2]", "not json", '"classes"'])
def test_a_hostile_config_offers_no_classes(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    classes, _ = model_offer(str(tmp_path), None)
    assert classes == []
