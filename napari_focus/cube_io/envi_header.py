"""ENVI header text: read tolerantly, parsed the way `spectral` parses it.

`spectral.io.envi.read_envi_header` opens the file in the locale's text encoding, so one Latin-1 byte in a
description (common in headers written on Windows) makes it call the file "not an ENVI header", and it warns
about every capitalised key Specim's Lumo writes (``Start Time``). Here the bytes are decoded as UTF-8, else
as Windows-1252 or Latin-1 with a note, and parsed with spectral's rules: keys lower-cased, ``;`` lines
skipped, ``{...}`` values split on commas except ``description``. tests/io/test_real_headers.py checks that
both parsers agree on every real header of its corpus.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CubeReadError

MAX_HEADER_BYTES = 64 << 20  # read whole; real ones are kilobytes
#: keys of an ESRI/ArcGIS raster header (``.hdr`` beside a ``.bil``): a different format with the same extension
ESRI_KEYS = {"nrows", "ncols", "nbands", "nbits", "layout", "byteorder"}


def decode_header(raw: bytes) -> tuple[str, str | None]:
    """The header's text, and a note when it was not UTF-8: then it is read as Windows-1252 (what Windows
    tools write), or as Latin-1, which decodes any byte."""
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        where = f"byte 0x{raw[exc.start]:02X} at offset {exc.start}"
    try:
        return raw.decode("cp1252"), f"the header is not UTF-8 ({where}): read as Windows-1252"
    except UnicodeDecodeError:  # one of the five bytes Windows-1252 leaves undefined
        return raw.decode("latin-1"), f"the header is not UTF-8 ({where}): read as Latin-1"


def read_header(hdr: Path) -> tuple[dict[str, str | list[str]], list[str]]:
    """The fields of an ENVI header (keys lower-case) and notes on how it was read."""
    try:
        size = hdr.stat().st_size
        if size == 0:
            raise CubeReadError(hdr, "the header file is empty")
        if size > MAX_HEADER_BYTES:
            raise CubeReadError(hdr, f"a {size}-byte file is too large to be an ENVI header")
        raw = hdr.read_bytes()
    except OSError as exc:
        raise CubeReadError(hdr, f"the header cannot be read ({exc.strerror or exc})") from None
    text, note = decode_header(raw)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # universal newlines, as open() reads
    if not lines or not lines[0].strip().startswith("ENVI"):
        raise CubeReadError(hdr, _not_envi_reason(lines, b"\0" in raw[:4096]))
    return parse_fields(lines[1:], hdr), [note] if note else []


def _not_envi_reason(lines: list[str], binary: bool) -> str:
    words = {line.split(maxsplit=1)[0].lower() for line in lines[:40] if line.strip()}
    if len(words & ESRI_KEYS) >= 3:
        return "an ESRI/ArcGIS raster header (NROWS, NCOLS, LAYOUT ...), not an ENVI header"
    if binary:
        return "not an ENVI header (a binary file)"
    return "not an ENVI header (its first line is not 'ENVI')"


def parse_fields(lines: list[str], hdr: Path) -> dict[str, str | list[str]]:
    """``key = value`` lines after the ``ENVI`` line, as `spectral.io.envi.read_envi_header` reads them."""
    fields: dict[str, str | list[str]] = {}
    it = iter(lines)
    for line in it:
        if "=" not in line or line.startswith(";"):
            continue
        key, _, value = line.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not value.startswith("{"):
            fields[key] = value
            continue
        while not value.endswith("}"):
            nxt = next(it, None)
            if nxt is None:
                raise CubeReadError(hdr, f"ENVI header field '{key}' opens '{{' and never closes it")
            if not nxt.startswith(";"):
                value += "\n" + nxt.strip()
        if key == "description":
            fields[key] = value.strip("{}").strip()
        else:
            fields[key] = [v.strip() for v in value[1:-1].split(",")]
    return fields
