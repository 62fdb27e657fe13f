"""Word and sentence splitting for the quality signals: fast regexes, no model data to download.

Words: runs of letters/digits (kept whole across internal . - / ' ’ and digit-colon-digit, so
"debian.org", "x86-64", "/etc/issue" and "14:57:28" are one word), brackets, quotes and
``* # @ $ % & ; ? ! ,`` one token per character, dashes in pairs, and runs of any other
punctuation character ("...", "====") as one token: close to what NLTK's Treebank tokenizer, which the
Gopher and FineWeb rules were written against, gives for English.
Scripts written without spaces (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar) count one
word per character, so "too few words" means the same thing for a Chinese page as for an English one.
"""
from __future__ import annotations

import re

NO_SPACE_SCRIPTS = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
                    "\uf900-\ufaff\U00020000-\U0002fa1f")
_W = rf"[^\W{NO_SPACE_SCRIPTS}]"
WORD_RE = re.compile(rf"[{NO_SPACE_SCRIPTS}]|/*{_W}+(?:[.'’\-/]{_W}+|:\d+)*/*"
                     r"|--?|[*#@$%&;?!()\[\]{}<>,\"]|([^\w\s])\1*")
# A sentence ends at . ! ? (and their CJK forms) followed by space, or at 。！？ directly.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|(?<=[。！？])")


def split_words(text: str) -> list[str]:
    return [m.group(0) for m in WORD_RE.finditer(text)]


def split_sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if s.strip()]
