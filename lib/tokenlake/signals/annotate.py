"""Every quality signal of a batch of documents, as one pure Arrow batch -> batch function (the
``mapInArrow`` body of the quality stage, runnable in any engine or a plain loop).

Signals are computed on the text as read; the text written out has PII redacted. Parameters that
change what a signal means (the LID model, C4's line rules, FineWeb's short-line length, the URL
block lists) make up ``SignalParams``; its ``key`` is stored with the signals, so a change of
parameters recomputes them, while a change of a threshold never does.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Iterator

import pyarrow as pa

from . import lid, pii
from .c4 import C4Params, c4_signals
from .fineweb import fineweb_signals
from .gopher import quality_signals, repetition_signals
from .text_stats import count_lines, count_words
from .urls import BlockList
from .words import split_words

BASE = ["doc_id", "source", "source_id", "url", "text"]
MAX_SIGNAL_CHARS = 2_000_000  # signals of longer texts are taken on their first 2M characters


@dataclass(frozen=True)
class SignalParams:
    lid_model_uri: str | None = None
    c4: C4Params = C4Params()
    short_line_length: int = 30
    blocklist: BlockList = BlockList()
    redact_pii: bool = True
    options: dict = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        d = asdict(self)
        d.pop("options")
        d["blocklist"] = {"domains": sorted(self.blocklist.domains), "substrings": list(self.blocklist.substrings)}
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def signals_of(text: str, url: str | None, params: SignalParams) -> dict[str, float]:
    """All numeric signals of one document (the keys of the ``signals`` map)."""
    t = text[:MAX_SIGNAL_CHARS]
    words = split_words(t)
    out = quality_signals(t, words)
    out.update(repetition_signals(t, words))
    out.update(c4_signals(t, params.c4))
    out.update(fineweb_signals(t, len(words), params.short_line_length))
    blocked = params.blocklist.reason(url) if params.blocklist else None
    out["url_blocked_domain"] = float(blocked == "domain")
    out["url_blocked_substring"] = float(blocked == "substring")
    return out


def quality_score(s: dict[str, float]) -> float:
    """A continuous proxy in [0, 1] for dedup's keep=quality: punctuated, alphabetic, unrepeated
    text scores higher. Replace it with a model score through ``dedup.quality_column``."""
    return (min(s["fineweb_line_punct_ratio"], 1.0) * min(s["gopher_alpha_words_ratio"], 1.0)
            * max(1.0 - s["gopher_dup_line_char_frac"], 0.0))


SCHEMA = pa.schema([
    ("doc_id", pa.string()), ("source", pa.string()), ("source_id", pa.string()), ("url", pa.string()),
    ("text", pa.string()), ("n_chars", pa.int64()), ("n_words", pa.int64()), ("n_lines", pa.int64()),
    ("lang", pa.string()), ("lang_score", pa.float64()), ("quality_score", pa.float64()),
    ("pii_counts", pa.map_(pa.string(), pa.int64())), ("signals", pa.map_(pa.string(), pa.float64())),
    ("signal_params", pa.string()),
])
DDL = ("doc_id string, source string, source_id string, url string, text string, n_chars bigint, n_words bigint, "
       "n_lines bigint, lang string, lang_score double, quality_score double, pii_counts map<string,bigint>, "
       "signals map<string,double>, signal_params string")


def annotate_batch(batch: pa.RecordBatch, params: SignalParams) -> pa.RecordBatch:
    texts = batch.column("text").to_pylist()
    urls = batch.column("url").to_pylist()
    langs, scores = lid.predict(texts, params.lid_model_uri, params.options)
    out_text, pii_counts, sigs, qscores, n_lines = [], [], [], [], []
    for text, url in zip(texts, urls):
        s = signals_of(text, url, params)
        sigs.append(list(s.items()))
        qscores.append(quality_score(s))
        n_lines.append(count_lines(text))
        red, counts = pii.redact(text) if params.redact_pii else (text, dict.fromkeys(pii.KINDS, 0))
        out_text.append(red)
        pii_counts.append(list(counts.items()))
    arrays = [batch.column("doc_id"), batch.column("source"), batch.column("source_id"), batch.column("url"),
              pa.array(out_text, pa.string()),
              pa.array([len(t) for t in texts], pa.int64()),
              pa.array([count_words(t) for t in texts], pa.int64()),
              pa.array(n_lines, pa.int64()),
              pa.array(langs, pa.string()), pa.array(scores, pa.float64()), pa.array(qscores, pa.float64()),
              pa.array(pii_counts, pa.map_(pa.string(), pa.int64())),
              pa.array(sigs, pa.map_(pa.string(), pa.float64())),
              pa.array([params.key] * batch.num_rows, pa.string())]
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


def annotator(params: SignalParams):
    """The ``mapInArrow`` function: bronze columns ``BASE`` in, ``SCHEMA`` out."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from ..offload import offload

        for batch in batches:
            if batch.num_rows:
                yield offload(annotate_batch, batch, params)

    return run
