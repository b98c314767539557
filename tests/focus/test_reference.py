"""The calibrated readout's stored reference (napari_focus/focus/reference.py): shared offsets give no weight."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from napari_focus.focus.model import FocusOutput  # noqa: E402
from napari_focus.focus.readout import group_weight  # noqa: E402
from napari_focus.focus.reference import fit_margin_reference, group_margins  # noqa: E402

from .conftest import tiny_model  # noqa: E402


def test_reference_is_the_mean_margin_over_leaves_of_the_other_classes(model):
    x = torch.rand(9, 24, 32, 32)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2])
    ref = fit_margin_reference(model, x, y, batch_size=4)
    assert tuple(ref.shape) == (3, model.groups.n_groups)
    with torch.no_grad():
        m = group_margins(model, model(x).group_logits)  # (n, K, G)
    per = [m[y == k].mean(0) for k in range(3)]
    for c in range(3):
        others = torch.stack([per[k][c] for k in range(3) if k != c]).mean(0)  # each class weighted alike
        assert torch.allclose(ref[c], others, atol=1e-5)
    assert torch.equal(model.margin_ref.cpu(), ref)


def test_an_offset_every_leaf_shares_gives_a_group_no_weight_while_a_leaf_own_change_does():
    m = tiny_model(classes=("healthy", "bls"), n_groups=4)
    # group 0 favours bls by 50 on every leaf; on this leaf group 2 favours it by 3 more than on healthy ones
    m.margin_ref = torch.tensor([[-50.0, 0.0, -1.0, 0.0], [50.0, 0.0, 1.0, 0.0]])
    z = torch.tensor([[[-50.0, 0.0, -4.0, 0.0], [50.0, 0.0, 4.0, 0.0]]])  # (1, K, G) of one diseased leaf
    out = FocusOutput(logits=z.mean(-1), group_logits=z)
    raw = group_weight(m, out, 1, "margin")
    cal = group_weight(m, out, 1, "calibrated")
    assert int(raw.argmax()) == 0  # the raw margin is led by the shared offset
    assert float(cal[0]) == 0 and float(cal[2]) == pytest.approx(3.0) and int(cal.argmax()) == 2
    m.margin_ref = None  # a checkpoint saved before the reference existed: the raw margin, as before
    assert torch.equal(group_weight(m, out, 1, "calibrated"), raw)


def test_stopping_leaves_the_previous_reference(model):
    model.margin_ref = torch.zeros(3, model.groups.n_groups)
    assert fit_margin_reference(model, torch.rand(8, 24, 32, 32), torch.arange(8) % 3, batch_size=2,
                                should_stop=lambda: True) is None
    assert torch.equal(model.margin_ref, torch.zeros(3, model.groups.n_groups))
