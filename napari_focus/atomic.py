"""Swapping a finished folder or file into place so that a reader never sees half of one (checkpoints, batch
outputs, training state)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

#: marks the previous folder while it is moved aside (`.NAME.old-XXXXXXXX`); a crash between the two
#: renames leaves it there, and `focus.checkpoint.restore_interrupted` puts it back
OLD_MARK = ".old-"
#: marks a folder being written next to its destination (`.NAME.tmp-XXXXXXXX`); a killed save leaves it
TMP_MARK = ".tmp-"


def replace_dir(tmp: Path, final: Path) -> None:
    """Put the finished folder `tmp` at `final`; an older one is moved aside first and then deleted."""
    if final.exists():
        old = final.parent / f".{final.name}{OLD_MARK}{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def replace_file(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` a sibling temp file, then rename it over `path`: a reader sees the old file or the new one."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.new-{uuid.uuid4().hex[:8]}"  # not `.tmp-`: that marks a checkpoint's
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_leftovers(final: Path, marks: tuple[str, ...] = (OLD_MARK, TMP_MARK)) -> list[Path]:
    """Delete the hidden `.NAME<mark>XXXXXXXX` folders that saves of `final` killed mid-way left beside it (full
    copies of old or never-confirmed models that nothing else would remove). Only names this module makes
    match; call it from the writer, once any interrupted save has been restored. Returns what was removed."""
    final = Path(final)
    pattern = re.compile(rf"^\.{re.escape(final.name)}({'|'.join(map(re.escape, marks))})[0-9a-f]{{8}}$")
    try:
        found = [p for p in final.parent.iterdir() if pattern.match(p.name) and p.is_dir() and not p.is_symlink()]
    except OSError:
        return []
    for p in found:
        shutil.rmtree(p, ignore_errors=True)
    return found
