"""Point a shipped checkpoint at the shared `model/backbone/` weights by a relative path.

`save_checkpoint` records the backbone file's absolute path, which breaks once the folder moves (another
clone, the wheel's `_data/model`). The shipped checkpoints share one backbone file, so the path is made
relative to the checkpoint folder; the SHA-256 check still guards the file's contents.

    python -m napari_focus.zoo.relink_backbone model/focus_bls_vnir204
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from napari_focus.atomic import replace_file
from napari_focus.focus.backbone import sha256_file


def relink(checkpoint: Path, backbone: Path = Path("model/backbone/weights.safetensors")) -> str:
    cfg_path = checkpoint / "config.json"
    cfg = json.loads(cfg_path.read_text())
    rel = os.path.relpath(backbone.resolve(), checkpoint.resolve())
    cfg["backbone"]["weights_file"] = rel
    replace_file(cfg_path, lambda p: p.write_text(json.dumps(cfg, indent=1)))
    copy = checkpoint / "backbone.safetensors"  # a re-save of a loaded checkpoint copies the backbone: a duplicate
    if copy.is_file() and sha256_file(copy) == cfg["backbone"]["sha256"]:
        copy.unlink()
    return rel


if __name__ == "__main__":
    for folder in sys.argv[1:]:
        print(folder, "->", relink(Path(folder)))
