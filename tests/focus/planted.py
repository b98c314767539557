"""The planted-signal task (the readout's acceptance test) and a tiny self-supervised backbone.

Cubes: a textured leaf-like background, a decoy bright patch, and for class 1 a band window that is
raised inside a known grid-aligned square. A frozen *random* ViT attends uniformly (docs/method.md §3.9), so the
tiny backbone is first pretrained by masked-patch reconstruction on textured single-band images.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from napari_focus.cube import Cube
from napari_focus.focus.backbone import BackboneSpec, freeze
from napari_focus.focus.groups import make_groups
from napari_focus.focus.model import FocusModel
from napari_focus.zoo.pretrain_backbone import sincos_2d

S, P, C = 32, 8, 24
WAVELENGTHS = np.linspace(400, 1000, C)
WINDOW = (9, 12)  # bands 9..11 (~635–687 nm): the window of `planted_cube` when none is given
SPAN_NM = (420.0, 980.0)  # a seed's window lies anywhere in here (`window_for`)
GAIN = 0.03  # per-cube, per-band gain jitter (±3%)
EPOCHS = 8  # FOCUS epochs per seed in the acceptance test
SQ = 8  # the square is one patch (8×8 px), grid aligned
VIT = dict(img_size=S, patch_size=P, embed_dim=64, depth=3, num_heads=4, num_classes=0)


def textures(n: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 1, S, S) textured single-band images: smooth fields, blobs and rectangles, noise."""
    out = []
    for _ in range(n):
        r = int(torch.randint(3, 9, (1,), generator=gen))
        img = F.interpolate(torch.randn(1, 1, r, r, generator=gen), size=(S, S), mode="bicubic", align_corners=False)
        for _ in range(int(torch.randint(1, 5, (1,), generator=gen))):
            y, x = torch.randint(0, S - 6, (2,), generator=gen).tolist()
            h, w = torch.randint(3, 16, (2,), generator=gen).tolist()
            img[..., y : y + h, x : x + w] += torch.randn(1, generator=gen) * 1.5
        img = img + 0.1 * torch.randn(img.shape, generator=gen)
        out.append((img - img.mean()) / (img.std() + 1e-6))
    return torch.cat(out)


def pretrain_backbone(steps: int = 250, seed: int = 0, batch: int = 32, lr: float = 2e-3,
                      pos_scale: float = 1.0, qk_gain: float = 1.0) -> nn.Module:
    """Masked-patch reconstruction (half the patches zeroed) of a tiny ViT, then frozen."""
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    vit = VisionTransformer(**VIT)
    with torch.no_grad():
        n = vit.pos_embed.shape[1] - (0 if vit.no_embed_class else vit.num_prefix_tokens)
        vit.pos_embed[0, -n:] = pos_scale * sincos_2d(S // P, VIT["embed_dim"])
        d = VIT["embed_dim"]
        for blk in vit.blocks:  # larger q/k weights: attention starts peaked, so it learns fast
            torch.nn.init.normal_(blk.attn.qkv.weight[: 2 * d], std=qk_gain / d**0.5, generator=gen)
    dec = nn.Linear(VIT["embed_dim"], P * P)
    opt = torch.optim.AdamW(list(vit.parameters()) + list(dec.parameters()), lr=lr, weight_decay=0.01)
    g = S // P
    for _ in range(steps):
        img = textures(batch, gen)
        mask = torch.rand(batch, g, g, generator=gen) < 0.5
        pix_mask = mask.repeat_interleave(P, 1).repeat_interleave(P, 2)[:, None]
        x = img.masked_fill(pix_mask, 0.0).expand(-1, 3, -1, -1)
        tok = vit.forward_features(x)[:, vit.num_prefix_tokens :]
        pred = dec(tok)  # (B, N, P²)
        target = img.reshape(batch, g, P, g, P).permute(0, 1, 3, 2, 4).reshape(batch, g * g, P * P)
        m = mask.reshape(batch, -1)
        loss = ((pred - target) ** 2).mean(-1)[m].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return freeze(vit)


def attention_entropy(vit: nn.Module, img: torch.Tensor) -> torch.Tensor:
    """(depth, heads) mean normalised entropy of patch-query attention rows on images (B, 1, S, S)."""
    import math

    x = vit.norm_pre(vit._pos_embed(vit.patch_embed(img.expand(-1, 3, -1, -1))))
    out = []
    with torch.no_grad():
        for blk in vit.blocks:
            a = blk.attn
            B, L, _ = x.shape
            q, k, _ = a.qkv(blk.norm1(x)).reshape(B, L, 3, a.num_heads, a.head_dim).permute(2, 0, 3, 1, 4)
            att = ((q * a.scale) @ k.transpose(-2, -1)).softmax(-1)[:, :, vit.num_prefix_tokens :]
            out.append((-(att * att.clamp_min(1e-12).log()).sum(-1)).mean((0, 2)) / math.log(L))
            x = blk(x)
    return torch.stack(out)


def window_for(seed: int, width: int = WINDOW[1] - WINDOW[0]) -> tuple[int, int]:
    """The band window that differs between the classes in this seed's cubes: drawn anywhere in SPAN_NM, so no
    readout can pass by preferring one part of the spectrum."""
    ok = np.flatnonzero((SPAN_NM[0] <= WAVELENGTHS) & (SPAN_NM[1] >= WAVELENGTHS))
    start = int(np.random.default_rng(90_000 + seed).integers(ok[0], ok[-1] - width + 2))
    return start, start + width


def planted_cube(
    rng: np.random.Generator, label: int, signal: float = 2.0, texture_amp: float = 0.1, gain: float = GAIN,
    window: tuple[int, int] = WINDOW,
) -> tuple[Cube, tuple[int, int], tuple[int, int]]:
    """One cube; returns it with the (row, col) patch of the square and of the decoy."""
    wl = WAVELENGTHS
    base = 0.05 + 0.45 / (1 + np.exp(-(wl - 710) / 15)) + 0.08 * np.exp(-(((wl - 550) / 30) ** 2))
    r = rng.integers(3, 8)
    field = F.interpolate(torch.as_tensor(rng.standard_normal((1, 1, r, r)), dtype=torch.float32), size=(S, S),
                          mode="bicubic", align_corners=False)[0, 0].numpy()
    texture = 1.0 + texture_amp * field / (np.abs(field).max() + 1e-6)
    cube = base[:, None, None] * texture[None]
    cube = cube * (1 + gain * rng.uniform(-1, 1, (C, 1, 1)))  # per-band gain: small, so global means do differ
    cube = cube + 0.005 * rng.standard_normal(cube.shape)
    g = S // P
    cells = rng.choice(g * g, size=2, replace=False)
    sq, decoy = divmod(int(cells[0]), g), divmod(int(cells[1]), g)
    dy, dx = decoy[0] * P, decoy[1] * P
    cube[:, dy : dy + SQ, dx : dx + SQ] *= 1.8
    if label == 1:
        y, x = sq[0] * P, sq[1] * P
        w = slice(*window)
        before = cube[w].mean((1, 2), keepdims=True)
        cube[w, y : y + SQ, x : x + SQ] *= 1 + signal
        cube[w] *= before / cube[w].mean((1, 2), keepdims=True)  # same band means: only the square tells
    return Cube(cube.astype(np.float32), wavelengths_nm=wl), sq, decoy


def dataset(seed: int, n: int) -> list[tuple[Cube, int, tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = i % 2
        cube, sq, _ = planted_cube(rng, label, window=window_for(seed))
        out.append((cube, label, sq))
    return out


def train_planted(backbone: nn.Module, seed: int, n_train: int = 64, epochs: int = EPOCHS, sink_weight: float = 1e-3,
                  lr: float = 5e-3) -> tuple[FocusModel, float]:
    """A FOCUS model trained on one seed's planted data; returns it and its held-out accuracy."""
    from napari_focus.focus.inputs import tensors_from
    from napari_focus.focus.train import score, train

    torch.manual_seed(seed)
    model = FocusModel(backbone, BackboneSpec(kwargs=dict(VIT)), make_groups(C, WAVELENGTHS, 4), ["plain", "planted"],
                       wavelengths_nm=WAVELENGTHS, seed=seed)
    data = dataset(seed, n_train + 20)
    tr = [(c, lab) for c, lab, _ in data[:n_train]]
    train(model, tr, epochs=epochs, lr=lr, batch_size=8, seed=seed, sink_weight=sink_weight)
    xv, yv = tensors_from(model, [(c, lab) for c, lab, _ in data[n_train:]])
    return model, score(model, xv, yv)


def judge(model: FocusModel, seed: int, rule: str, n_test: int = 10) -> tuple[float, float, float]:
    """Fractions of held-out planted cubes whose B top band lies in the seed's window / whose M peaks in the
    square, and the curve's mean mass lift on the window (1 = a flat curve)."""
    from napari_focus.focus.explain import explain
    from napari_focus.metrics import mass_lift

    rng = np.random.default_rng(10_000 + seed)
    window = window_for(seed)
    truth = np.zeros(C)
    truth[slice(*window)] = 1.0
    band_ok, map_ok, lifts = 0, 0, []
    leaf = np.ones((S, S), bool)
    for _ in range(n_test):
        cube, sq, _ = planted_cube(rng, 1, window=window)
        exp = explain(model, cube, class_index=1, rule=rule, leaf_mask=leaf)
        band_ok += window[0] <= int(np.argmax(exp.B)) < window[1]
        py, px = np.unravel_index(int(np.argmax(exp.M)), exp.M.shape)
        map_ok += (py // P, px // P) == tuple(sq)
        lift = mass_lift(exp.B, truth)
        lifts.append(lift if np.isfinite(lift) else 0.0)
    return band_ok / n_test, map_ok / n_test, float(np.mean(lifts))
