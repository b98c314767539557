"""The catalogue of bad inputs: output paths, CLI arguments, cube files, checkpoints, training data and state.

Each case runs the CLI in-process on a folder a fixture fills with small synthetic files and expects the same
handling: exit status 2, one line on stderr that names the file (or the argument) at fault, no traceback, and
every file under the test folder byte-identical afterwards (nothing of the user's is changed, nothing left).
docs/robustness.md gives the counts per group.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
NESTED = "[" * 100_000 + "]" * 100_000  # deeper than Python's JSON parser recurses

from napari_focus.cli import main  # noqa: E402

from .kit import (  # noqa: E402
    ENVI_HDR,
    Case,
    Ctx,
    backbone_field,
    backbone_json,
    byte_swapped,
    config_field,
    counts,
    cube_file,
    envi,
    flip_last_byte,
    kwarg,
    leaf,
    make_ctx,
    manifest,
    npy,
    symlink,
    symlink_loop,
    tree,
    values_file,
    with_backbone,
    with_config,
    with_ground_truth,
    without,
)


def _users_out(ctx: Ctx, kind: str) -> Path:
    """An output path holding (or under, or pointing nowhere from) a user's things."""
    if kind == "folder":
        return ctx.user_folder()
    afile = ctx.file("afile.txt", "the user's file")
    if kind == "file":
        return afile
    if kind == "under-file":
        return afile / "sub"
    return symlink(ctx, "dangling", ctx.root / "nowhere")


def _out_case(cmd: str, kind: str) -> Case:
    def case(ctx: Ctx) -> tuple[list[str], str]:
        out = _users_out(ctx, kind)
        if cmd == "train":
            return ctx.train(out=out), str(out)
        if cmd == "explain":
            return ctx.explain(ctx.cube, out=out), str(out)
        (ctx.root / "cubes").mkdir()
        cube_file(ctx.root / "cubes" / "a.hdr")
        return ctx.explain(ctx.root / "cubes", out=out), str(out)
    return case


OUTPUT_PATHS: dict[str, Case] = {f"{cmd} --out {kind}": _out_case(cmd, kind) for cmd in ("train", "explain", "batch")
                                 for kind in ("folder", "file", "under-file", "dangling")}
OUTPUT_PATHS.update({
    "train --out beside a user's OUT.partial folder": lambda c: (
        c.user_folder("ck.partial") and c.train(out=c.root / "ck"), "ck.partial"),
    "train --out beside a user's OUT.partial file": lambda c: (
        c.file("ck.partial", "mine") and c.train(out=c.root / "ck"), "ck.partial"),
    "train --out the data folder": lambda c: (c.train(out=c.data), str(c.data)),
    "explain --out a checkpoint": lambda c: (c.explain(c.cube, out=c.ckpt), str(c.ckpt)),
    "explain --out the cube's own file": lambda c: (c.explain(c.cube, out=c.cube), str(c.cube)),
    "batch --out the input folder": lambda c: (
        (c.root / "cubes").mkdir() or cube_file(c.root / "cubes" / "a.hdr") and
        c.explain(c.root / "cubes", out=c.root / "cubes"), "cubes"),
})


ARGUMENTS: dict[str, list[str]] = {
    "--overlap 2": ["explain", "c.hdr", "--out", "o", "--overlap", "2"],
    "--overlap -0.1": ["explain", "c.hdr", "--out", "o", "--overlap", "-0.1"],
    "--overlap nan": ["explain", "c.hdr", "--out", "o", "--overlap", "nan"],
    "--overlap 1": ["explain", "c.hdr", "--out", "o", "--overlap", "1"],
    "explain --device tpu9": ["explain", "c.hdr", "--out", "o", "--device", "tpu9"],
    "--device with a command": ["explain", "c.hdr", "--out", "o", "--device", "cuda;rm -rf /"],
    "--workers -1": ["explain", "c.hdr", "--out", "o", "--workers", "-1"],
    "--tile 0": ["explain", "c.hdr", "--out", "o", "--tile", "0"],
    "--tile big": ["explain", "c.hdr", "--out", "o", "--tile", "big"],
    "--method magic": ["explain", "c.hdr", "--out", "o", "--method", "magic"],
    "explain without --out": ["explain", "c.hdr"],
    "--lr nan": ["train", "--data", "d", "--out", "o", "--lr", "nan"],
    "--lr inf": ["train", "--data", "d", "--out", "o", "--lr", "inf"],
    "--lr 0": ["train", "--data", "d", "--out", "o", "--lr", "0"],
    "--lr -1e-3": ["train", "--data", "d", "--out", "o", "--lr", "-1e-3"],
    "--epochs 0": ["train", "--data", "d", "--out", "o", "--epochs", "0"],
    "--epochs two": ["train", "--data", "d", "--out", "o", "--epochs", "two"],
    "--batch-size 0": ["train", "--data", "d", "--out", "o", "--batch-size", "0"],
    "--groups 0": ["train", "--data", "d", "--out", "o", "--groups", "0"],
    "--views 9": ["train", "--data", "d", "--out", "o", "--views", "9"],
    "--sink-weight nan": ["train", "--data", "d", "--out", "o", "--sink-weight", "nan"],
    "--sink-weight -1": ["train", "--data", "d", "--out", "o", "--sink-weight", "-1"],
    "--prompt-std -0.1": ["train", "--data", "d", "--out", "o", "--prompt-std", "-0.1"],
    "--spectral-contrast nan": ["train", "--data", "d", "--out", "o", "--spectral-contrast", "nan"],
    "--contrast-gain-cap 0": ["train", "--data", "d", "--out", "o", "--contrast-gain-cap", "0"],
    "--seed -1": ["train", "--data", "d", "--out", "o", "--seed", "-1"],
    "--light-jitter-level 0": ["train", "--data", "d", "--out", "o", "--light-jitter-level", "0"],
    "--light-jitter-level 1.2": ["train", "--data", "d", "--out", "o", "--light-jitter-level", "1.2"],
    "--light-jitter-tilt nan": ["train", "--data", "d", "--out", "o", "--light-jitter-tilt", "nan"],
    "--light-jitter-tilt 1.5": ["train", "--data", "d", "--out", "o", "--light-jitter-tilt", "1.5"],
    "--img-size 0": ["train", "--data", "d", "--out", "o", "--img-size", "0"],
    "train --device tpu9": ["train", "--data", "d", "--out", "o", "--device", "tpu9"],
    "train without --data": ["train", "--out", "o"],
    "--max-items 0": ["evaluate", "--data", "d", "--model", "m", "--max-items", "0"],
    "evaluate --device gpu": ["evaluate", "--data", "d", "--model", "m", "--device", "gpu"],
    "unknown command": ["frobnicate"],
}


CUBE_FILES: dict[str, Case] = {
    "missing file": lambda c: (c.explain(c.root / "nope.hdr"), "nope.hdr"),
    "empty .hdr": lambda c: (c.explain(c.file("e.hdr", "")), "e.hdr"),
    "header not ENVI": lambda c: (c.explain(c.file("t.hdr", "hello\nworld\n")), "t.hdr"),
    "samples = 0": lambda c: (c.explain(envi(c, "z", ENVI_HDR.replace("samples = 16", "samples = 0"))), "z.hdr"),
    "bands = -3": lambda c: (c.explain(envi(c, "n", ENVI_HDR.replace("bands = 12", "bands = -3"))), "n.hdr"),
    "header lies about size": lambda c: (c.explain(envi(c, "s", ENVI_HDR, data_bytes=100)), "s.img"),
    "data file missing": lambda c: (c.explain(envi(c, "m", ENVI_HDR, data_bytes=None)), "m.hdr"),
    "data type 99": lambda c: (c.explain(envi(c, "d", ENVI_HDR.replace("data type = 4", "data type = 99"))),
                               "d.hdr"),
    "interleave xyz": lambda c: (c.explain(envi(c, "i", ENVI_HDR.replace("bsq", "xyz"))), "i.hdr"),
    "unknown extension": lambda c: (c.explain(c.file("cube.xyz", b"\0" * 64)), "cube.xyz"),
    "garbage .tif": lambda c: (c.explain(c.file("g.tif", b"II*\0garbage")), "g.tif"),
    "garbage .h5": lambda c: (c.explain(c.file("g.h5", b"not hdf5")), "g.h5"),
    "garbage .mat": lambda c: (c.explain(c.file("g.mat", b"MATLAB 5.0 garbage")), "g.mat"),
    "garbage .npy": lambda c: (c.explain(c.file("g.npy", b"\x93NUMPY garbage")), "g.npy"),
    "pickled .npy": lambda c: (c.explain(npy(c, "p.npy", np.array([{"a": 1}], dtype=object))), "p.npy"),
    "empty .npz": lambda c: (c.explain(npy(c, "e.npz", None)), "e.npz"),
    "1-band cube": lambda c: (c.explain(cube_file(c.root / "one.hdr", 1, 650, 650)), "one.hdr"),
    "cube outside the model's range": lambda c: (c.explain(cube_file(c.root / "swir.hdr", 30, 2000, 2500)),
                                                 "swir.hdr"),
    "no wavelengths, other band count": lambda c: (c.explain(cube_file(c.root / "nowl.hdr", 7, wl=False)), "nowl.hdr"),
    "folder without cubes": lambda c: (c.explain((c.root / "empty").mkdir() or c.root / "empty"), "empty"),
    "glob matching nothing": lambda c: (c.explain(c.root / "none*.hdr"), "none*.hdr"),
    "--labels missing": lambda c: (c.explain(c.cube, labels=str(c.root / "lab.npy")), "lab.npy"),
    "--labels pickled": lambda c: (c.explain(c.cube, labels=str(npy(c, "lab.npy", np.array([{}], dtype=object)))),
                                   "lab.npy"),
    "--labels with a batch": lambda c: (c.explain((c.root / "cb").mkdir() or c.root / "cb",
                                                  labels=str(c.root / "l.npy")), "--labels"),
    "--workers with one cube": lambda c: (c.explain(c.cube, workers="2"), "--workers"),
    "info on a missing file": lambda c: (["info", str(c.root / "gone.hdr")], "gone.hdr"),
    "info on garbage": lambda c: (["info", str(c.file("junk.hdr", b"\xff\xfe\0junk"))], "junk.hdr"),
    "symlink loop": lambda c: (c.explain(symlink_loop(c)), "loop.hdr"),
    "broken symlink": lambda c: (c.explain(symlink(c, "gone.hdr", c.root / "nowhere.hdr")), "gone.hdr"),
    "data file a symlink loop": lambda c: (c.explain(envi(c, "dl", ENVI_HDR, data_bytes=None) and (
        symlink(c, "dl.img", c.root / "dl.img") and c.root / "dl.hdr")), "dl.img"),
    "info on 204 identical wavelengths": lambda c: (["info", str(cube_file(c.root / "same.hdr", 204, 500, 500))],
                                                    "same.hdr"),
    "ESRI/ArcGIS .hdr": lambda c: (c.explain(c.file("esri.hdr", "BYTEORDER I\nLAYOUT BIL\nNROWS 16\nNCOLS 16\n"
                                                    "NBANDS 12\nNBITS 16\n")), "esri.hdr"),
    ".bin without a header": lambda c: (c.explain(c.file("scan.bin", b"\0" * 64)), "scan.bin"),
    "header '{' never closed": lambda c: (c.explain(envi(c, "brace", ENVI_HDR + "wavelength = {400, 500,\n")),
                                          "brace.hdr"),
    "spectral library header": lambda c: (c.explain(envi(c, "lib", ENVI_HDR.replace(
        "ENVI Standard", "ENVI Spectral Library"))), "lib.hdr"),
    "byte order = 2": lambda c: (c.explain(envi(c, "bo", ENVI_HDR.replace("byte order = 0", "byte order = 2"))),
                                 "bo.hdr"),
    "header without data type": lambda c: (c.explain(envi(c, "nodt", ENVI_HDR.replace("data type = 4\n", ""))),
                                           "nodt.hdr"),
}


def _beside_references(c: Ctx) -> tuple[list[str], str]:
    values_file(c, "white_ref", counts(np.full((12, 2, 16), 0.98, np.float32)))
    values_file(c, "dark_ref", np.full((12, 2, 16), 60, np.uint16))
    return c.explain(values_file(c, "scan", counts(leaf()))), "scan.hdr"


# values a model must not be asked about (napari_focus/input_check.py): refused before it is loaded
CUBE_VALUES: dict[str, Case] = {
    "raw counts (uint16, no scale factor)": lambda c: (c.explain(values_file(c, "raw", counts(leaf()))), "raw.hdr"),
    "raw counts beside white and dark references": _beside_references,
    "counts above reflectance × 10 000": lambda c: (c.explain(values_file(c, "big", (leaf() * 40_000).astype(
        np.uint16))), "big.hdr"),
    "counts as whole floats": lambda c: (c.explain(values_file(c, "fc", counts(leaf()).astype(np.float32))), "fc.hdr"),
    "float32 with the wrong byte order": lambda c: (c.explain(byte_swapped(c, "sw", leaf())), "sw.hdr"),
    "uint16 × 10⁴ with the wrong byte order": lambda c: (c.explain(byte_swapped(c, "sw16", np.rint(
        leaf() * 10_000).astype(np.uint16))), "sw16.hdr"),
    "reflectance in percent": lambda c: (c.explain(values_file(c, "pct", leaf() * 100)), "pct.hdr"),
    "reflectance up to 6.5": lambda c: (c.explain(values_file(c, "hot", leaf() * 13)), "hot.hdr"),
    "negative reflectance": lambda c: (c.explain(values_file(c, "neg", -leaf() - 0.6)), "neg.hdr"),
    "all-zero cube": lambda c: (c.explain(values_file(c, "zero", np.zeros((12, 16, 16), np.uint16))), "zero.hdr"),
    "constant cube": lambda c: (c.explain(values_file(c, "flat", np.full((12, 16, 16), 0.4, np.float32))),
                                "flat.hdr"),
    "2×2 cube": lambda c: (c.explain(values_file(c, "tiny", leaf(2, 2))), "tiny.hdr"),
    "3×3 cube": lambda c: (c.explain(values_file(c, "three", leaf(3, 3))), "three.hdr"),
    "1×384 line-scan frame": lambda c: (c.explain(values_file(c, "line", leaf(1, 384))), "line.hdr"),
    "1×1024 line-scan frame": lambda c: (c.explain(values_file(c, "line2", leaf(1, 1024))), "line2.hdr"),
    "--white without --dark": lambda c: (c.explain(c.cube, white=str(c.cube)), "--white"),
    "--white with a batch": lambda c: (c.explain((c.root / "wb").mkdir() or c.root / "wb", white=str(c.cube),
                                                 dark=str(c.cube)), "--white"),
}


CHECKPOINTS: dict[str, Case] = {
    "model folder missing": lambda c: (c.explain(c.cube, model=str(c.root / "no_ck")), "no_ck"),
    "model is a file": lambda c: (c.explain(c.cube, model=str(c.file("ck.txt", "x"))), "ck.txt"),
    "model folder empty": lambda c: (c.explain(c.cube, model=str((c.root / "e").mkdir() or c.root / "e")), "e"),
    "weights missing": lambda c: (c.explain(c.cube, model=str(without(c.ck(), "weights.safetensors"))), "bad_ck"),
    "config not JSON": lambda c: (c.explain(c.cube, model=str(with_config(c.ck(), "{not json"))), "bad_ck"),
    "config nested 100000 deep": lambda c: (c.explain(c.cube, model=str(with_config(c.ck(), NESTED))),
                                            "bad_ck"),
    "config a list": lambda c: (c.explain(c.cube, model=str(with_config(c.ck(), "[]"))), "bad_ck"),
    "foreign format": lambda c: (c.explain(c.cube, model=str(c.ck_config(config_field("format", "other")))), "bad_ck"),
    "newer version": lambda c: (c.explain(c.cube, model=str(c.ck_config(config_field("version", 99)))), "bad_ck"),
    "classes a number": lambda c: (c.explain(c.cube, model=str(c.ck_config(config_field("classes", 5)))), "bad_ck"),
    "use_sink a string": lambda c: (c.explain(c.cube, model=str(c.ck_config(config_field("use_sink", "no")))),
                                    "bad_ck"),
    "head_aux wrong shape": lambda c: (c.explain(c.cube, model=str(c.ck_config(config_field("head_aux", [[1]])))),
                                       "bad_ck"),
    "normalisation strings": lambda c: (c.explain(c.cube, model=str(c.ck_config(
        config_field("normalisation", {"band_mean": "x", "band_std": [1]})))), "bad_ck"),
    "weights flipped byte": lambda c: (c.explain(c.cube, model=str(flip_last_byte(c.ck()))), "bad_ck"),
    "weights truncated": lambda c: (c.explain(c.cube, model=str(c.ck_weights(
        (c.ckpt / "weights.safetensors").read_bytes()[:50]))), "bad_ck"),
    "weights header claims petabytes": lambda c: (c.explain(c.cube, model=str(c.ck_weights(
        struct.pack("<Q", 1 << 50) + b"{}"))), "bad_ck"),
    "weights a pickle": lambda c: (c.explain(c.cube, model=str(c.ck_weights(b"\x80\x04K\x01."))), "bad_ck"),
    "backbone weights a .pt": lambda c: (c.explain(c.cube, model=str(c.ck_config(
        backbone_field("weights_file", str(c.file("evil.pt", b"\x80\x04K\x01.")))))), "bad_ck"),
    "backbone weights missing": lambda c: (c.explain(c.cube, model=str(c.ck_config(
        backbone_field("weights_file", str(c.root / "gone.safetensors"))))), "gone.safetensors"),
    "backbone hash mismatch": lambda c: (c.explain(c.cube, model=str(c.ck_config(backbone_field("sha256", "0" * 64)))),
                                         "backbone"),
    "backbone hf-hub name": lambda c: (c.explain(c.cube, model=str(c.ck_config(
        backbone_field("name", "hf-hub:evil/vit_tiny_patch16_224")))), "bad_ck"),
    "backbone local-dir name": lambda c: (c.explain(c.cube, model=str(c.ck_config(
        backbone_field("name", "local-dir:/tmp")))), "bad_ck"),
    "backbone name not in timm": lambda c: (c.explain(c.cube, model=str(c.ck_config(
        backbone_field("name", "no_such_vit")))), "no_such_vit"),
    "backbone not a ViT": lambda c: (c.explain(c.cube, model=str(c.ck_config(backbone_field("name", "resnet18")))),
                                     "ResNet"),
    "backbone checkpoint_path": lambda c: (c.explain(c.cube, model=str(c.ck_config(
        kwarg(checkpoint_path="/tmp/evil.pth")))), "bad_ck"),
    "backbone pretrained_cfg_overlay": lambda c: (c.explain(c.cube, model=str(c.ck_config(
        kwarg(pretrained_cfg_overlay={"hf_hub_id": "evil/x"})))), "bad_ck"),
    "backbone embed_dim 98304": lambda c: (c.explain(c.cube, model=str(c.ck_config(
        kwarg(embed_dim=98304, num_heads=8)))), "bad_ck"),
    "backbone depth 100000": lambda c: (c.explain(c.cube, model=str(c.ck_config(kwarg(depth=100000)))), "bad_ck"),
    "backbone img_size 10^7": lambda c: (c.explain(c.cube, model=str(c.ck_config(backbone_field("img_size", 10**7)))),
                                         "bad_ck"),
    "backbone unknown field": lambda c: (c.explain(c.cube, model=str(c.ck_config(backbone_field("loader", "torch")))),
                                         "bad_ck"),
}


TRAINING: dict[str, Case] = {
    "data folder missing": lambda c: (c.train(c.root / "nodata"), "nodata"),
    "data folder without manifest": lambda c: (c.train((c.root / "dd").mkdir() or c.root / "dd"), "dd"),
    "manifest names a missing cube": lambda c: (c.train(manifest(c, [{"file": "gone.hdr", "label": lab}
                                                                  for lab in "aabb"])), "gone.hdr"),
    "manifest without rows": lambda c: (c.train(manifest(c, [])), "mds"),
    "no training split": lambda c: (c.train(c.dataset(["a", "b"], splits=["test", "test"])), "ds"),
    "one class": lambda c: (c.train(c.dataset(["a"] * 4)), "ds"),
    "a class with 1 sample": lambda c: (c.train(c.dataset(["a", "a", "a", "b"])), "ds"),
    "a declared class without samples": lambda c: (c.train(c.dataset(["a", "a", "b", "b"], classes=["a", "b", "c"])),
                                                   "ds"),
    "ground_truth.json not JSON": lambda c: (c.train(with_ground_truth(c, "{oops")), "ground_truth.json"),
    "ground_truth.json nested": lambda c: (c.train(with_ground_truth(c, NESTED)), "ground_truth.json"),
    "ground_truth.json a list": lambda c: (c.train(with_ground_truth(c, "[1]")), "ground_truth.json"),
    "--backbone-file missing": lambda c: (c.train(None, None)[:-6] + ["--backbone-file", str(c.root / "bb.json")],
                                          "bb.json"),
    "backbone.json not JSON": lambda c: (with_backbone(c, c.file("bbx/backbone.json", "{x")), "backbone.json"),
    "backbone.json with checkpoint_path": lambda c: (with_backbone(c, backbone_json(c, checkpoint_path="/tmp/e.pth")),
                                                     "checkpoint_path"),
    "backbone.json with huge depth": lambda c: (with_backbone(c, backbone_json(c, depth=10**6)), "depth"),
    "--backbone without a file": lambda c: (["train", "--data", str(c.data), "--out", str(c.root / "ck"),
                                             "--backbone", "vit_small_patch14_dinov2"], "vit_small_patch14_dinov2"),
    "--backbone hf-hub name": lambda c: (c.train(None, None, "--backbone", "hf-hub:evil/x"), "hf-hub:evil/x"),
    "training state truncated": lambda c: (c.state(c.root / "ck", truncate=True) and c.train(), "ck.partial"),
    "training state.json foreign": lambda c: (c.state(c.root / "ck", '{"format": "other"}') and c.train(),
                                              "ck.partial"),
    "training state.json not JSON": lambda c: (c.state(c.root / "ck", "{") and c.train(), "ck.partial"),
    "training state.json nested": lambda c: (c.state(c.root / "ck", NESTED) and c.train(),
                                             "ck.partial"),
    "training state of another run": lambda c: (c.state(c.root / "ck") and c.train(), "ck.partial"),
}


CATALOGUE: dict[str, Case] = {
    **{f"output: {k}": v for k, v in OUTPUT_PATHS.items()},
    **{f"argument: {k}": (lambda c, a=a: (a, "argument")) for k, a in ARGUMENTS.items()},
    **{f"cube: {k}": v for k, v in CUBE_FILES.items()},
    **{f"values: {k}": v for k, v in CUBE_VALUES.items()},
    **{f"checkpoint: {k}": v for k, v in CHECKPOINTS.items()},
    **{f"training: {k}": v for k, v in TRAINING.items()},
}


@pytest.fixture
def ctx(tmp_path: Path, tiny_checkpoint: Path) -> Ctx:
    return make_ctx(tmp_path / "work", tiny_checkpoint)


def test_the_catalogue_is_large_enough():
    assert len(CATALOGUE) >= 90


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_bad_input_is_refused_in_one_line(ctx, name, capsys):
    argv, named = CATALOGUE[name](ctx)
    before = tree(ctx.root)
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse
        rc = e.code
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if "error" in line]  # train logs its progress before its epochs
    assert rc == 2, err
    assert len(errors) == 1 and "Traceback" not in err, err
    assert named in errors[0], err
    assert tree(ctx.root) == before, "a refused command changed files"
