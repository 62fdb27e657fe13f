"""Basic text statistics: characters, words, non-empty lines.

Words are runs of letters/digits, except that each CJK ideograph, kana and Thai character counts as
a word of its own: those scripts do not separate words with spaces, and a space-based count would
make every Chinese or Japanese page look like a three-word page.
"""
from __future__ import annotations

import re

from .words import NO_SPACE_SCRIPTS

_WORD = re.compile(f"[{NO_SPACE_SCRIPTS}]|[^\\W_{NO_SPACE_SCRIPTS}]+")


def count_words(text: str) -> int:
    return sum(1 for _ in _WORD.finditer(text))


def count_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())
