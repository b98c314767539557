"""Pretrain the embedded backbone: masked-patch reconstruction on single-band leaf images.

A randomly initialised frozen ViT attends uniformly and cannot carry FOCUS (docs/method.md §3.9), and DINOv2
cannot be downloaded here, so the project pretrains its own small ViT, self-supervised (SimMIM-style:
masked patches replaced by a learned token, a linear decoder predicts their pixels, L1 loss), on single
bands of simulated leaves of every task and sensor plus smooth random textures. The leaves come from a
seed range (`SEED_BASE` + i) that FOCUS training and evaluation never use, and no labels are seen.

Stage 2 (`--spot-weight > 0`, `--init` the stage-1 weights): masked-patch reconstruction alone left
small spots (a few pixels inside an 8-pixel patch) nearly invisible in the frozen tokens, so the
backbone also learns a generic visual primitive on synthetic images only: the share of each visible
patch covered by small spots (disks of random size, contrast and sign on smooth fields with large
regions and edges). No leaf, lesion mask or class label is used by this objective.

Stage 3 (`--attn-weight > 0`, with stage 2): the frozen backbone's attention must be able to find small
spots, or FOCUS's prompts (extra queries that reuse its query/key maps) pool every patch alike and the
classes tie (docs/benchmarks.md, "Why the prompts did not learn at first"). DINOv2's CLS attention finds
salient objects; here the CLS row of the last `--attn-layers` blocks is taught to put its mass on the spot
patches of the same synthetic images.

    python -m napari_focus.zoo.pretrain_backbone --out model/backbone --minutes 30

Resumable: every `--save-every` seconds the model, AdamW's moments and the RNG states go to
`<out>/.resume/` as safetensors plus `state.json` (step, time, history, numpy generator), written atomically by
`focus.resume.write_state`; rerunning the same command continues from there, with the same batches as an
uninterrupted run. A `.resume/state.pt` of an older version (torch pickle) is never loaded: the run stops with
one line saying so, and deleting that file starts over (the cached images are kept).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from napari_focus.atomic import replace_file
from napari_focus.zoo.spot_objective import (  # noqa: F401  (spot_image: re-exported)
    AttentionTap,
    attention_weights,
    cls_cover_r,
    make_spot_images,
    spot_attention_auroc,
    spot_attention_loss,
    spot_auroc,
    spot_image,
    standardise,
)

ARCH = dict(img_size=96, patch_size=8, in_chans=3, embed_dim=192, depth=6, num_heads=6, mlp_ratio=4.0,
            class_token=True, global_pool="token", num_classes=0)
SEED_BASE = 7_000_000  # leaves for pretraining only; FOCUS datasets use other seeds
TASKS = ("bls", "genotype", "trait")
SENSORS = ("vnir204", "vswir200")
STATE_FORMAT = "napari-focus-pretrain-state"
STATE_VERSION = 1


def texture(rng: np.random.Generator, size: int) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    sigma = rng.uniform(0.7, 8.0)
    field = gaussian_filter(rng.standard_normal((size, size)), sigma)
    if rng.random() < 0.5:  # hard-edged blobs, like lesions and leaf margins
        field = (field > np.quantile(field, rng.uniform(0.5, 0.95))).astype(np.float32) + 0.1 * field
    return standardise(field)


def make_images(n_leaves: int, bands_per_leaf: int, n_textures: int, size: int, seed: int,
                log=print) -> np.ndarray:
    """(N, size, size) float16 standardised single-band images (leaves first, then textures)."""
    from napari_focus.simulate import get_sensor, simulate_leaf
    from napari_focus.simulate.tasks import task_spec

    rng = np.random.default_rng(seed)
    sensors = {name: get_sensor(name) for name in SENSORS}
    out = np.empty((n_leaves * bands_per_leaf + n_textures, size, size), np.float16)
    k = 0
    t0 = time.time()
    for i in range(n_leaves):
        task = TASKS[i % len(TASKS)]
        sensor = sensors[SENSORS[(i // len(TASKS)) % len(SENSORS)]]
        classes = list(task_spec(task, float(sensor.wavelengths_nm.max())).classes)
        label = classes[rng.integers(len(classes))] if classes else None
        leaf = simulate_leaf(task, sensor, size, SEED_BASE + i, label=label)
        for b in rng.choice(leaf.cube.n_bands, bands_per_leaf, replace=False):
            out[k] = standardise(np.asarray(leaf.cube.data[b]))
            k += 1
        if (i + 1) % 20 == 0:
            log(f"data: {i + 1}/{n_leaves} leaves ({time.time() - t0:.0f} s)")
    for _ in range(n_textures):
        out[k] = texture(rng, size)
        k += 1
    return out


def sincos_2d(grid: int, dim: int):
    """(grid², dim) fixed 2-D sine-cosine position codes (MAE): spatial locality from the first step."""
    import torch

    yy, xx = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32),
                            indexing="ij")
    q = dim // 4
    omega = 1.0 / (10000 ** (torch.arange(q, dtype=torch.float32) / q))
    parts = []
    for pos in (yy.flatten(), xx.flatten()):
        ang = pos[:, None] * omega[None]
        parts += [ang.sin(), ang.cos()]
    return torch.cat(parts, dim=1)


def build_model(arch: dict):
    import torch
    from timm.models.vision_transformer import VisionTransformer
    from torch import nn

    class SimMIM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vit = VisionTransformer(**arch)
            d, p = self.vit.embed_dim, arch["patch_size"]
            with torch.no_grad():  # fixed sin-cos positions, as in MAE; CLS position zero
                grid = arch["img_size"] // p
                self.vit.pos_embed.zero_()
                self.vit.pos_embed[0, self.vit.num_prefix_tokens:] = sincos_2d(grid, d)
            self.vit.pos_embed.requires_grad_(False)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
            nn.init.normal_(self.mask_token, std=0.02)
            self.decoder = nn.Linear(d, p * p)
            self.spot_head = nn.Linear(d, 1)
            self.cls_head = nn.Linear(d, 1)

        def forward(self, x: torch.Tensor, mask: torch.Tensor, cover: torch.Tensor | None = None,
                    has_cover: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
            vit, p = self.vit, arch["patch_size"]
            t = vit.patch_embed(x.expand(-1, 3, -1, -1))  # grey band on all RGB inputs = summed conv
            t = torch.where(mask[..., None], self.mask_token.expand_as(t), t)
            t = vit.norm_pre(vit._pos_embed(t))
            full = vit.norm(vit.blocks(t))
            t = full[:, vit.num_prefix_tokens:]
            self.last_cls = full[:, 0]
            pred = self.decoder(t)
            b, _, h, w = x.shape
            target = x.reshape(b, h // p, p, w // p, p).permute(0, 1, 3, 2, 4).reshape(b, -1, p * p)
            rec = (pred - target).abs().mean(-1)[mask].mean()
            if cover is None:
                return rec
            keep = ~mask & has_cover[:, None]
            if not bool(keep.any()):
                return rec, rec.new_zeros(())
            logit = self.spot_head(t).squeeze(-1)[keep]
            return rec, nn.functional.binary_cross_entropy_with_logits(logit, cover[keep])

    return SimMIM()


def attention_entropies(vit, images) -> np.ndarray:
    """Normalised attention entropy per (layer, head) of patch queries: 1 = uniform (docs/method.md §3.5)."""
    import torch

    ents = []
    with torch.inference_mode():
        t = vit.norm_pre(vit._pos_embed(vit.patch_embed(images.expand(-1, 3, -1, -1))))
        for blk in vit.blocks:
            a = attention_weights(blk.attn, blk.norm1(t), slice(vit.num_prefix_tokens, None))  # patch queries
            h = -(a * a.clamp_min(1e-12).log()).sum(-1) / math.log(t.shape[1])
            ents.append(h.mean(dim=(0, 2)).numpy())
            t = blk(t)
    return np.stack(ents)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("model/backbone"))
    ap.add_argument("--minutes", type=float, default=30.0, help="training time budget (data generation excluded)")
    ap.add_argument("--leaves", type=int, default=240)
    ap.add_argument("--bands-per-leaf", type=int, default=16)
    ap.add_argument("--textures", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--mask-ratio", type=float, default=0.6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=0,
                    help="stop after this many steps instead of --minutes (the lr schedule follows steps)")
    ap.add_argument("--save-every", type=float, default=120.0, help="seconds between resume points")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--init", type=Path, default=None, help="backbone.json of a stage-1 backbone to continue from")
    ap.add_argument("--spot-weight", type=float, default=0.0, help="weight of the stage-2 spot-cover objective")
    ap.add_argument("--spot-images", type=int, default=3000)
    ap.add_argument("--cls-weight", type=float, default=0.0,
                    help="weight of the image-level objective: CLS estimates the image's total spot cover")
    ap.add_argument("--attn-weight", type=float, default=0.0,
                    help="weight of the stage-3 objective: CLS attention of the last layers on small spots")
    ap.add_argument("--attn-layers", type=int, default=3)
    args = ap.parse_args(argv)

    import torch
    from safetensors.torch import save_file
    from tqdm import tqdm

    from napari_focus.errors import FocusError
    from napari_focus.focus import resume as rs

    if args.threads:
        torch.set_num_threads(args.threads)
    out: Path = args.out
    resume_dir = out / ".resume"
    if (resume_dir / "state.pt").is_file():  # torch pickle: never loaded (safetensors + JSON only)
        raise SystemExit(f"{resume_dir / 'state.pt'}: resume state of an older version (torch pickle), not loaded; "
                         f"delete that file to start over (the cached images are kept)")
    resume_dir.mkdir(parents=True, exist_ok=True)
    log_path = out / "pretrain.log"

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, file=sys.stderr, flush=True)
        with open(log_path, "a") as fh:
            fh.write(line + "\n")

    data_path = resume_dir / "images.npy"
    if data_path.is_file():
        images = np.load(data_path, allow_pickle=False)
        log(f"data: reusing {images.shape[0]} cached images")
    else:
        images = make_images(args.leaves, args.bands_per_leaf, args.textures, ARCH["img_size"], args.seed, log)
        np.save(resume_dir / "images.tmp.npy", images)
        os.replace(resume_dir / "images.tmp.npy", data_path)
        log(f"data: {images.shape[0]} images ({args.leaves} leaves × {args.bands_per_leaf} bands + "
            f"{args.textures} textures)")
    n_val = 256
    val = torch.from_numpy(images[-n_val - args.textures:-args.textures].astype(np.float32))[:, None]
    train = images
    spots = cover = None
    if args.spot_weight > 0:
        spot_path = resume_dir / "spots.npz"
        if not spot_path.is_file():
            si, sc = make_spot_images(args.spot_images + n_val, ARCH["img_size"], ARCH["patch_size"], args.seed)
            np.savez(resume_dir / "spots.tmp.npz", images=si, cover=sc)
            os.replace(resume_dir / "spots.tmp.npz", spot_path)
        with np.load(spot_path, allow_pickle=False) as z:
            spots, cover = z["images"], z["cover"]
        log(f"data: {spots.shape[0]} spot images (last {n_val} held out)")

    torch.manual_seed(args.seed)
    model = build_model(ARCH)
    stage1 = None
    if args.init is not None:
        from safetensors.torch import load_file

        stage1 = json.loads(args.init.read_text())
        missing = model.vit.load_state_dict(load_file(str(args.init.parent / stage1["weights_file"])), strict=False)
        if missing.unexpected_keys:
            raise SystemExit(f"--init: unexpected tensors {missing.unexpected_keys[:3]}")
        log(f"init: stage-1 weights from {args.init} ({stage1['pretraining']['steps']} steps)")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05, betas=(0.9, 0.95))
    step, elapsed, history = 0, 0.0, []
    gen = np.random.default_rng(args.seed)
    try:
        found = rs.read_state(resume_dir, STATE_FORMAT, STATE_VERSION, "remove its state.json")
    except FocusError as e:
        raise SystemExit(str(e)) from None
    if found is not None:
        meta, tensors = found
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        rs.restore_optimizer(opt, tensors)
        rs.restore_rng(tensors)
        gen.bit_generator.state = meta["numpy_rng"]
        step, elapsed, history = int(meta["step"]), float(meta["elapsed"]), meta["history"]
        log(f"resumed at step {step} ({elapsed / 60:.1f} min trained)")
    budget = args.minutes * 60
    n_patches = (ARCH["img_size"] // ARCH["patch_size"]) ** 2
    warmup = 100
    by_steps = args.steps > 0
    bar = tqdm(total=args.steps if by_steps else int(budget), initial=step if by_steps else int(elapsed),
               unit="step" if by_steps else "s", desc="pretrain", file=sys.stderr)
    last_save = time.time()
    model.train()
    tap = AttentionTap(model.vit, args.attn_layers) if spots is not None and args.attn_weight > 0 else None
    while step < args.steps if by_steps else elapsed < budget:
        t0 = time.time()
        idx = gen.integers(0, train.shape[0], args.batch)
        x = torch.from_numpy(train[idx].astype(np.float32))[:, None]
        if spots is not None:  # half of every batch: spot images with their per-patch cover
            half = args.batch // 2
            sidx = gen.integers(0, spots.shape[0] - n_val, half)
            x[:half] = torch.from_numpy(spots[sidx].astype(np.float32))[:, None]
            has_cover = torch.arange(args.batch) < half
            cov = torch.zeros(args.batch, n_patches)
            cov[:half] = torch.from_numpy(cover[sidx].astype(np.float32))
        k = int(gen.integers(4))
        x = torch.rot90(x, k, dims=(2, 3))
        flip = gen.random() < 0.5
        if flip:
            x = x.flip(3)
        x = x * torch.from_numpy(gen.uniform(0.7, 1.3, (args.batch, 1, 1, 1)).astype(np.float32))
        mask = torch.from_numpy(gen.random((args.batch, n_patches)) < args.mask_ratio)
        frac = step / args.steps if by_steps else min(1.0, elapsed / budget)
        lr = args.lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * frac))
        for g in opt.param_groups:
            g["lr"] = lr
        if spots is not None:
            g = ARCH["img_size"] // ARCH["patch_size"]
            cg = torch.rot90(cov.reshape(-1, 1, g, g), k, dims=(2, 3))
            cg = cg.flip(3) if flip else cg
            rec, spot = model(x, mask, cg.reshape(args.batch, -1), has_cover)
            loss = rec + args.spot_weight * spot
            if args.cls_weight > 0:  # sqrt cover × 10: spots of 0.5-10 % of an image map to 0.7-3
                target = cov[:half].mean(1).sqrt() * 10
                cls_loss = (model.cls_head(model.last_cls[:half]).squeeze(-1) - target).pow(2).mean()
                loss = loss + args.cls_weight * cls_loss
            if tap is not None:
                att = spot_attention_loss([r[:half] for r in tap.rows()], cg.reshape(args.batch, -1)[:half],
                                          ~mask[:half])
                loss = loss + args.attn_weight * att
        else:
            loss = model(x, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        dt = time.time() - t0
        elapsed += dt
        bar.update((step if by_steps else int(elapsed)) - bar.n)
        if step % 20 == 0:
            history.append({"step": step, "minutes": round(elapsed / 60, 2), "loss": round(loss.item(), 4),
                            "lr": lr, **({"spot_bce": round(spot.item(), 4)} if spots is not None else {}),
                            **({"cls_mse": round(cls_loss.item(), 4)} if args.cls_weight > 0 else {}),
                            **({"attn_nll": round(att.item(), 4)} if tap is not None else {})})
            bar.set_postfix(loss=f"{loss.item():.3f}", step=step)
        if time.time() - last_save >= args.save_every:
            tensors = {**{"model." + k: v for k, v in model.state_dict().items()}, **rs.optimizer_tensors(opt),
                       **rs.rng_tensors()}
            rs.write_state(resume_dir, f"state-step{step:08d}", tensors,
                           {"format": STATE_FORMAT, "version": STATE_VERSION, "step": step, "elapsed": elapsed,
                            "numpy_rng": gen.bit_generator.state, "history": history})
            replace_file(resume_dir / "history.json", lambda p: p.write_text(json.dumps(history)))  # for a reader
            log(f"step {step}: loss {loss.item():.4f}, {elapsed / 60:.1f} min")
            last_save = time.time()
    bar.close()
    if tap is not None:
        for h in tap.handles:
            h.remove()

    model.eval()
    with torch.inference_mode():
        gv = torch.Generator().manual_seed(1)
        vmask = torch.rand((val.shape[0], n_patches), generator=gv) < args.mask_ratio
        val_loss = float(model(val, vmask))
    ent = attention_entropies(model.vit, val[:64])
    spot_eval = spot_auroc(model, spots[-n_val:], cover[-n_val:]) if spots is not None else None
    cls_eval = cls_cover_r(model, spots[-n_val:], cover[-n_val:]) if args.cls_weight > 0 else None
    attn_eval = (spot_attention_auroc(model, spots[-n_val:], cover[-n_val:], args.attn_layers)
                 if tap is not None else None)
    vit_state = {k: v.contiguous() for k, v in model.vit.state_dict().items() if not k.startswith("head.")}
    weights = out / "weights.safetensors"
    save_file(vit_state, str(out / "weights.tmp.safetensors"))
    os.replace(out / "weights.tmp.safetensors", weights)
    from napari_focus.focus.backbone import sha256_file

    info = {
        "architecture": "timm VisionTransformer",
        "kwargs": ARCH,
        "weights_file": weights.name,
        "sha256": sha256_file(weights),
        "pretraining": {
            "objective": "masked-patch reconstruction (SimMIM-style, L1 on masked pixels, linear decoder)",
            "images": int(train.shape[0]), "leaves": args.leaves, "bands_per_leaf": args.bands_per_leaf,
            "textures": args.textures, "leaf_seeds": [SEED_BASE, SEED_BASE + args.leaves - 1],
            "tasks": list(TASKS), "sensors": list(SENSORS), "mask_ratio": args.mask_ratio,
            "batch": args.batch, "lr": args.lr, "steps": step, "minutes": round(elapsed / 60, 1),
            "seed": args.seed, "val_masked_l1": round(val_loss, 4),
            "torch": torch.__version__,
        },
        "stage1": (stage1.get("stage1") or stage1["pretraining"]) if stage1 else None,
        "stage2": (stage1["pretraining"] if stage1.get("stage1") else None) if stage1 else None,
        "spot_objective": None if spots is None else {
            "weight": args.spot_weight, "images": int(spots.shape[0] - n_val),
            "held_out_patch_auroc": spot_eval, "cls_weight": args.cls_weight,
            "held_out_cls_cover_r": cls_eval, "attn_weight": args.attn_weight, "attn_layers": args.attn_layers,
            "held_out_cls_attention_auroc": attn_eval,
            "what": "per-patch share of small synthetic disks on smooth fields (no leaves, no labels)"},
        "attention_entropy": {
            "normalised_per_layer_head": np.round(ent, 4).tolist(),
            "min": float(ent.min()), "max": float(ent.max()), "spread": float(ent.max() - ent.min()),
        },
        "history": history[-50:],
    }
    (out / "backbone.json").write_text(json.dumps(info, indent=1))
    log(f"done: {step} steps, val masked L1 {val_loss:.4f}, entropies {ent.min():.3f}–{ent.max():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
