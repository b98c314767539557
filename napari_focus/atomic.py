"""Swapping a finished folder or file into place so that a reader never sees half of one (checkpoints, batch
outputs, training state)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

#: marks the previous folder while it is moved aside (`.NAME.old-XXXXXXXX`); a crash between the two
#: renames leaves it there, and `focus.checkpoint.restore_interrupted` puts it back
OLD_MARK = ".old-"


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
