"""The bad-input catalogue's kit: a test folder of small synthetic files (a cube, a checkpoint, a dataset, a
backbone) and the helpers that spoil them, one way per case."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from napari_focus.cube_io import write_envi
from napari_focus.dataset import write_manifest

WL = np.linspace(400.0, 1000.0, 12)  # the tiny checkpoint's bands
TINY_VIT = dict(img_size=16, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=0)


@dataclass
class Ctx:
    """The test folder and what the cases build on: a good cube, checkpoint, dataset and backbone."""

    root: Path
    cube: Path
    ckpt: Path
    data: Path
    backbone: Path

    def file(self, name: str, content: str | bytes) -> Path:
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        return p

    def user_folder(self, name: str = "mine") -> Path:
        p = self.root / name
        p.mkdir(parents=True, exist_ok=True)
        (p / "keep.txt").write_text("the user's notes")
        return p

    def explain(self, cube: Path, **opts: str) -> list[str]:
        argv = ["explain", str(cube), "--out", str(opts.pop("out", self.root / "out")), "--model",
                str(opts.pop("model", self.ckpt))]
        return argv + [x for k, v in opts.items() for x in (f"--{k.replace('_', '-')}", v)]

    def train(self, data: Path | None = None, out: Path | None = None, *extra: str) -> list[str]:
        return ["train", "--data", str(data or self.data), "--out", str(out or self.root / "ck"), "--backbone-file",
                str(self.backbone), "--groups", "2", "--epochs", "1", *extra]

    # ---------------------------------------------------------------- checkpoints
    def ck(self, name: str = "bad_ck") -> Path:
        dst = self.root / name
        shutil.copytree(self.ckpt, dst)
        return dst

    def ck_config(self, edit: Callable[[dict], object], name: str = "bad_ck") -> Path:
        dst = self.ck(name)
        cfg = json.loads((dst / "config.json").read_text())
        edit(cfg)
        (dst / "config.json").write_text(json.dumps(cfg))
        return dst

    def ck_weights(self, data: bytes, rehash: bool = True) -> Path:
        from napari_focus.focus.backbone import sha256_file

        dst = self.ck()
        (dst / "weights.safetensors").write_bytes(data)
        if rehash:  # the hash matches, so the parser itself is reached
            cfg = json.loads((dst / "config.json").read_text())
            cfg["weights_sha256"] = sha256_file(dst / "weights.safetensors")
            (dst / "config.json").write_text(json.dumps(cfg))
        return dst

    # ---------------------------------------------------------------- datasets and training state
    def dataset(self, labels: list[str], name: str = "ds", splits: list[str] | None = None,
                classes: list[str] | None = None) -> Path:
        root = self.root / name
        root.mkdir()
        rng = np.random.default_rng(0)
        rows = []
        for i, label in enumerate(labels):
            write_envi(root / f"c{i}.hdr", (0.2 + 0.1 * rng.random((12, 16, 16))).astype(np.float32),
                       wavelengths_nm=WL)
            rows.append({"file": f"c{i}.hdr", "label": label, "split": (splits or ["train"] * len(labels))[i]})
        write_manifest(root, rows)
        if classes:
            (root / "ground_truth.json").write_text(json.dumps({"classes": classes}))
        return root

    def state(self, out: Path, meta_text: str | None = None, truncate: bool = False) -> Path:
        from napari_focus.focus.resume import FORMAT, VERSION, state_dir_for, write_state

        folder = state_dir_for(out)
        meta = write_state(folder, "state-epoch0001", {"x": torch.zeros(100)},
                           {"format": FORMAT, "version": VERSION, "fingerprint": "?", "epoch": 1})
        if truncate:
            t = folder / meta["tensors"]
            t.write_bytes(t.read_bytes()[:40])
        if meta_text is not None:
            (folder / "state.json").write_text(meta_text)
        return folder


def cube_file(path: Path, bands: int = 12, lo: float = 400.0, hi: float = 1000.0, wl: bool = True) -> Path:
    data = (0.2 + 0.1 * np.random.default_rng(1).random((bands, 16, 16))).astype(np.float32)
    write_envi(path, data, wavelengths_nm=(np.linspace(lo, hi, bands) if bands > 1 else [lo]) if wl else None)
    return path


def leaf(h: int = 16, w: int = 16) -> np.ndarray:
    """(12, H, W) reflectance of a leaf on a dark tray (red 0.05, NIR 0.5 inside an ellipse), noisy."""
    yy, xx = np.mgrid[:h, :w]
    inside = ((yy - h / 2) / (0.4 * h)) ** 2 + ((xx - w / 2) / (0.3 * w)) ** 2 <= 1
    spectrum = 0.05 + 0.45 / (1 + np.exp(-(WL - 715) / 15))
    cube = np.where(inside[None], spectrum[:, None, None], 0.03)
    return (cube + np.random.default_rng(2).normal(0, 0.003, cube.shape)).clip(0).astype(np.float32)


def counts(refl: np.ndarray) -> np.ndarray:
    """A camera's raw counts of that reflectance: light × sensor response, a dark offset, 12 bits."""
    response = np.exp(-0.5 * ((WL - 600) / 150) ** 2)[:, None, None]
    return np.clip(refl * response * 2800 + 60, 0, 4095).astype(np.uint16)


def values_file(ctx: Ctx, name: str, data: np.ndarray, byteorder: int = 0) -> Path:
    """An ENVI cube on the tiny checkpoint's bands holding these values as they are (no scale factor)."""
    path = ctx.root / f"{name}.hdr"
    write_envi(path, data, wavelengths_nm=WL, byteorder=byteorder)
    return path


def byte_swapped(ctx: Ctx, name: str, data: np.ndarray) -> Path:
    """Big-endian data under a header that says little-endian."""
    hdr = values_file(ctx, name, data, byteorder=1)
    hdr.write_text(hdr.read_text().replace("byte order = 1", "byte order = 0"))
    return hdr


ENVI_HDR = "ENVI\nsamples = 16\nlines = 16\nbands = 12\nheader offset = 0\nfile type = ENVI Standard\n" \
           "data type = 4\ninterleave = bsq\nbyte order = 0\n"


def envi(ctx: Ctx, name: str, header: str | bytes, data_bytes: int | None = 16 * 16 * 12 * 4) -> Path:
    hdr = ctx.file(f"{name}.hdr", header)
    if data_bytes is not None:
        ctx.file(f"{name}.img", b"\0" * data_bytes)
    return hdr


def symlink(ctx: Ctx, name: str, target: Path) -> Path:
    p = ctx.root / name
    p.symlink_to(target)
    return p


# Every case: (builder(ctx) -> (argv, what the message must name)). Grouped as docs/robustness.md counts them.
Case = Callable[[Ctx], tuple[list[str], str]]


def npy(ctx: Ctx, name: str, arr: np.ndarray | None) -> Path:
    p = ctx.root / name
    if arr is None:
        np.savez(p)
    else:
        np.save(p, arr, allow_pickle=True)
    return p


def symlink_loop(ctx: Ctx) -> Path:
    a, b = ctx.root / "loop.hdr", ctx.root / "loop2.hdr"
    a.symlink_to(b)
    b.symlink_to(a)
    return a


def kwarg(**kw: object) -> Callable[[dict], object]:
    return lambda cfg: cfg["backbone"]["kwargs"].update(kw)


def config_field(key: str, value: object) -> Callable[[dict], object]:
    return lambda cfg: cfg.__setitem__(key, value)


def backbone_field(key: str, value: object) -> Callable[[dict], object]:
    return lambda cfg: cfg["backbone"].__setitem__(key, value)


def without(folder: Path, name: str) -> Path:
    (folder / name).unlink()
    return folder


def with_config(folder: Path, text: str) -> Path:
    (folder / "config.json").write_text(text)
    return folder


def flip_last_byte(folder: Path) -> Path:
    w = folder / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    return folder


def manifest(ctx: Ctx, rows: list[dict]) -> Path:
    root = ctx.root / "mds"
    root.mkdir()
    write_manifest(root, rows)
    return root


def with_ground_truth(ctx: Ctx, text: str) -> Path:
    root = ctx.dataset(["a", "a", "b", "b"], name="gtds")
    (root / "ground_truth.json").write_text(text)
    return root


def backbone_json(ctx: Ctx, **kw: object) -> Path:
    p = ctx.root / "bbk" / "backbone.json"
    p.parent.mkdir()
    (p.parent / "w.safetensors").write_bytes(ctx.backbone.with_name("w.safetensors").read_bytes())
    p.write_text(json.dumps({"kwargs": {**TINY_VIT, **kw}, "weights_file": "w.safetensors"}))
    return p


def with_backbone(ctx: Ctx, description: Path) -> list[str]:
    argv = ctx.train()
    argv[argv.index("--backbone-file") + 1] = str(description)
    return argv


def tree(root: Path) -> dict[str, bytes | str | None]:
    """Every path under `root` with its bytes (or link target): what 'nothing changed' compares."""
    out: dict[str, bytes | str | None] = {}
    for p in sorted(root.rglob("*")):
        key = str(p.relative_to(root))
        out[key] = f"-> {p.readlink()}" if p.is_symlink() else (p.read_bytes() if p.is_file() else None)
    return out


def make_ctx(root: Path, tiny_checkpoint: Path) -> Ctx:
    """The test folder: a good cube, a copy of the tiny checkpoint, a 2-class dataset and a tiny backbone."""
    from safetensors.torch import save_file
    from timm.models.vision_transformer import VisionTransformer

    root.mkdir()
    bb = root / "bb"
    bb.mkdir()
    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in VisionTransformer(**TINY_VIT).state_dict().items()},
              str(bb / "w.safetensors"))
    (bb / "backbone.json").write_text(json.dumps({"kwargs": TINY_VIT, "weights_file": "w.safetensors"}))
    c = Ctx(root=root, cube=root / "leaf.hdr", ckpt=root / "tiny", data=root / "data", backbone=bb / "backbone.json")
    cube_file(c.cube)
    shutil.copytree(tiny_checkpoint, c.ckpt)
    c.dataset(["healthy", "healthy", "sick", "sick"], name="data")
    return c
