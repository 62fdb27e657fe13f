"""Trainer-side readers of our shard files, run in separate venvs whose pins clash with the main
one: .venv-oracles (torch 2.13 CPU, olmo-core, litdata) and .venv-mds (torch 2.14.1, torchvision,
mosaicml-streaming, numpy < 2.2). Usage: <venv>/bin/python tests/pack_oracles.py REQUEST.json

The request names a shard version directory and what to read; the result is what each library's
own reader returned, so the test in the main venv can compare it with the expected sequences.
"""
from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile

import numpy as np


def read_olmo(vdir: pathlib.Path, man: dict, work: pathlib.Path) -> dict:
    from olmo_core.data.numpy_dataset import NumpyFSLDataset
    from olmo_core.data.utils import iter_document_indices

    sec, tok = man["olmo"], man["tokenizer"]
    paths = [str(vdir / p) for p in sec["paths"]]
    dtype = getattr(np, sec["dtype"])
    ds = NumpyFSLDataset(*paths, sequence_length=man["_seq_len"], pad_token_id=tok["eos_id"],
                         eos_token_id=tok["eos_id"], vocab_size=tok["vocab_size"], dtype=dtype)
    ds.work_dir = work / "olmo"
    ds.prepare()
    instances = [ds[i]["input_ids"].tolist() for i in range(len(ds))]
    docs = [[list(se) for se in iter_document_indices(p, use_array_if_local=False, dtype=dtype)] for p in paths]
    return {"instances": instances, "documents": docs}


def read_litdata(vdir: pathlib.Path, man: dict, work: pathlib.Path) -> dict:
    from litdata import StreamingDataset
    from litdata.streaming.item_loader import TokensLoader

    ds = StreamingDataset(input_dir=str(vdir / "litdata"), item_loader=TokensLoader(block_size=man["_seq_len"]),
                          shuffle=False)
    return {"items": [np.asarray(ds[i]).tolist() for i in range(len(ds))]}


def read_mds(vdir: pathlib.Path, man: dict, work: pathlib.Path) -> dict:
    from streaming import MDSWriter, StreamingDataset

    ds = StreamingDataset(local=str(vdir / "mds"), shuffle=False, batch_size=1)
    samples = [np.asarray(ds[i]["tokens"]) for i in range(ds.num_samples)]
    index = json.loads((vdir / "mds" / "index.json").read_text())
    columns = {"tokens": man["mds"]["columns"]["tokens"]}
    # MDSWriter on the same samples, one writer per file of ours: same bytes and index entries?
    compared, at = [], 0
    for k, shard in enumerate(index["shards"]):
        out = work / f"mdswriter-{k}"
        with MDSWriter(out=str(out), columns=columns, compression="zstd", hashes=["sha1", "xxh64"]) as w:
            for s in samples[at:at + shard["samples"]]:
                w.write({"tokens": s})
        at += shard["samples"]
        ref = json.loads((out / "index.json").read_text())["shards"]
        ours_zip = (vdir / "mds" / shard["zip_data"]["basename"]).read_bytes()
        ref_zip = (out / ref[0]["zip_data"]["basename"]).read_bytes()
        strip = lambda e: {k2: ({k3: v3 for k3, v3 in v.items() if k3 != "basename"} if isinstance(v, dict) else v)
                           for k2, v in e.items()}
        compared.append({"files": len(ref), "bytes_equal": ours_zip == ref_zip,
                         "index_equal": strip(ref[0]) == strip(shard)})
    return {"samples": [s.tolist() for s in samples], "dtype": str(samples[0].dtype) if samples else None,
            "writer": compared}


READERS = {"olmo": read_olmo, "litdata": read_litdata, "mds": read_mds}


def main() -> None:
    req = json.loads(pathlib.Path(sys.argv[1]).read_text())
    vdir = pathlib.Path(req["vdir"])
    man = json.loads((vdir / "manifest.json").read_text())
    man["_seq_len"] = req["seq_len"]
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory() as tmp:
        out = {name: READERS[name](vdir, man, pathlib.Path(tmp)) for name in req["read"]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
