"""OLMo / dolma numpy shards: ``olmo/<dataset>_<NNNNN>.npy`` + ``.csv.gz``.

The ``.npy`` is a flat memmap of token ids with no numpy header (dolma's convention), dtype
``np.min_scalar_type(vocab_size - 1)``; olmo-core's numpy datasets read it with that dtype and cut
it into fixed-length instances themselves. The ``.csv.gz`` beside it has one row per document,
``start,end,id,src,loc`` in token offsets (end exclusive), which olmo-core reads for document
boundaries; here ``src`` is the source name and ``loc`` the document's row in the file. The gzip
header carries no file name and mtime 0, so the bytes are the same on every run.
"""
from __future__ import annotations

import csv
import gzip
import io

import numpy as np

from .sink import Sink


def write_olmo(spec, shard: int, flat: np.ndarray, lens: np.ndarray, doc_ids: list[str],
               sources: list[str]) -> list[dict]:
    from .writers import _row, copy_flat

    base = "olmo/" + spec.name(shard)
    npy_sink = Sink(spec.version_uri, base + ".npy", spec.options)
    meta_sink = Sink(spec.version_uri, base + ".csv.gz", spec.options)
    try:
        copy_flat(flat, npy_sink, spec.olmo_dtype)
        npy = npy_sink.close()
        ends = np.cumsum(lens)
        with gzip.GzipFile(filename="", mode="wb", fileobj=meta_sink, mtime=0) as gz:
            text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
            out = csv.writer(text, lineterminator="\n")
            for i, (end, n) in enumerate(zip(ends.tolist(), lens.tolist())):
                out.writerow([end - n, end, doc_ids[i], sources[i], i])
            text.flush()
            text.detach()
        meta = meta_sink.close()
    except BaseException:
        npy_sink.abort()
        meta_sink.abort()
        raise
    n_docs, n_tok = len(lens), int(lens.sum())
    return [_row(shard, "olmo", npy, n_docs, n_tok), _row(shard, "olmo", meta, n_docs, n_tok)]
