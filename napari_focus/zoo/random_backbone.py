"""Write a randomly initialised backbone of the embedded one's shape (same backbone.json layout), so the
same FOCUS recipe can be trained on it and readers see what the pretraining buys.

    python -m napari_focus.zoo.random_backbone --like model/backbone/backbone.json --out runs/random_backbone
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--like", type=Path, default=Path("model/backbone/backbone.json"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch
    from safetensors.torch import save_file
    from timm.models.vision_transformer import VisionTransformer

    from napari_focus.focus.backbone import sha256_file
    from napari_focus.zoo.pretrain_backbone import attention_entropies, sincos_2d

    info = json.loads(args.like.read_text())
    kwargs = dict(info["kwargs"])
    torch.manual_seed(args.seed)
    vit = VisionTransformer(**kwargs)
    with torch.no_grad():  # the same fixed sin-cos positions as the pretrained one: only the learning differs
        vit.pos_embed.zero_()
        vit.pos_embed[0, vit.num_prefix_tokens:] = sincos_2d(kwargs["img_size"] // kwargs["patch_size"],
                                                               kwargs["embed_dim"])
    args.out.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in vit.state_dict().items() if not k.startswith("head.")}
    save_file(state, str(args.out / "weights.safetensors"))
    g = torch.Generator().manual_seed(1)
    ent = attention_entropies(vit.eval(), torch.randn(16, 1, kwargs["img_size"], kwargs["img_size"], generator=g))
    out = {"architecture": info["architecture"], "kwargs": kwargs, "weights_file": "weights.safetensors",
           "sha256": sha256_file(args.out / "weights.safetensors"),
           "pretraining": {"objective": "none (random initialisation, timm defaults)", "seed": args.seed},
           "attention_entropy": {"min": float(ent.min()), "max": float(ent.max()),
                                 "spread": float(ent.max() - ent.min())}}
    (args.out / "backbone.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out["attention_entropy"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
