"""Stable identifiers and hashes; the same input always gets the same id on any engine."""
from __future__ import annotations

import re
import unicodedata

import xxhash

_WS = re.compile(r"\s+")


def doc_id(source: str, rel_path: str, offset: int) -> str:
    """xxh3-128 of (source, path relative to the source uri, record byte offset), as 32 hex chars.

    128 bits: at a billion documents a 64-bit id collides with probability ~3%; 128 bits never.
    """
    return xxhash.xxh3_128_hexdigest(f"{source}\x1f{rel_path}\x1f{offset}".encode())


def normalize_text(text: str, nfc: bool = True, lowercase: bool = True, collapse_whitespace: bool = True) -> str:
    if nfc:
        text = unicodedata.normalize("NFC", text)
    if lowercase:
        text = text.casefold()
    if collapse_whitespace:
        text = _WS.sub(" ", text).strip()
    return text


def text_hash(text: str) -> str:
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))
