"""One joint sequence of all N·G tokens: the benchmark's ablation of docs/method.md §3.4 (never the default).

The backbone runs once per cube over `[SINK] [CLS] [registers] x_{1,1} … x_{N,1} … x_{1,G} … x_{N,G}`:
group g's N patch tokens keep their spatial position embedding and get the group embedding e_g, as in
the per-group model, but every patch now attends to every group. Prompt p_{c,g} is an extra query at
every layer that attends to the whole joint sequence and to itself (not to other prompts); z_{c,g}
and z_c are as usual. So a prompt of group g depends on every group's bands (from layer 1 on, and
through the patches' cross-group attention), which per-group sequences rule out (docs/method.md §7).

Readouts are unchanged: a_{c,g}(p) is the attention of p_{c,g} to *group g's* patch tokens
(`own_patches`); the rollout runs over the joint sequence's attention before that selection. The
rest of the machinery (training, calibration, sink loss, diagnostics, Grad-CAM) is `FocusModel`'s,
through its layout hooks (`_sequences`, `seq_patches`, `own_patches`). The cached fast training path
(docs/method.md §3.7) is per-group only.
"""

from __future__ import annotations

import torch

from napari_focus.errors import FocusError
from napari_focus.focus.model import FocusModel

SEQUENCE = "joint"  # the checkpoint's `sequence` field for this variant


class JointFocusModel(FocusModel):
    """FOCUS with one backbone sequence per cube holding every group's patch tokens."""

    joint = True

    @property
    def seq_patches(self) -> int:
        return self.groups.n_groups * self.grid[0] * self.grid[1]

    def own_patches(self, t: torch.Tensor, group_axis: int = 0) -> torch.Tensor:
        """(…, G at `group_axis`, …, G·N) → (…, G, …, N): each group's row keeps its own group's patches."""
        g = self.groups.n_groups
        blocks = t.unflatten(-1, (g, t.shape[-1] // g))
        return torch.diagonal(blocks, dim1=group_axis, dim2=-2).movedim(-1, group_axis)

    def _sequences(self, band_tokens: torch.Tensor) -> torch.Tensor:
        """The per-group sequences' tokens laid end to end behind one shared prefix: (B, p0 + G·N, d)."""
        seq = super()._sequences(band_tokens)
        B, G, p0 = band_tokens.shape[0], self.groups.n_groups, self.patch_start
        seq = seq.reshape(B, G, *seq.shape[1:])
        return torch.cat([seq[:, 0, :p0], seq[:, :, p0:].reshape(B, -1, seq.shape[-1])], 1)

    def backbone_cache(self, x: torch.Tensor):  # type: ignore[override]
        raise FocusError("the cached fast training path needs per-group sequences; train the joint ablation "
                         "with the full path")

    def forward_cached(self, cache) -> torch.Tensor:  # type: ignore[override]
        raise FocusError("the cached fast training path needs per-group sequences")
