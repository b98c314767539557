"""Shared by the benchmark scripts: replace one section of docs/benchmarks.md, keep the rest."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, heading: str, section: str) -> None:
    """Replace the section starting at `heading` (up to the next level-2 heading) or append it."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((k for k, ln in enumerate(lines) if ln.rstrip() == heading), None)
    if start is None:
        path.write_text(text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n")
        return
    end = next((k for k in range(start + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    path.write_text("".join(lines[:start]) + section.rstrip("\n") + "\n" + ("\n" + tail if tail else ""))
