"""``tokenlake shards list | show | verify``: what shard versions a lake holds, and whether their
files are still exactly what the manifest says.

Only versions with a ``manifest.json`` are complete; ``list`` shows the others as incomplete and
``show``/``verify`` refuse them. ``verify`` re-reads every file (streaming, any store) and
compares size and sha256 with the manifest, and reports files in the version directory that the
manifest does not list; any difference makes the command exit 1.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import sys
from dataclasses import dataclass

from . import manifest as mf
from . import storage

READ_BLOCK = 8 << 20


@dataclass
class Target:
    root: str
    options: dict[str, str]
    dataset: str | None


def resolve(target: str, dataset: str | None) -> Target:
    """A pipeline config (its lake and pack.dataset) or a lake root."""
    if target.endswith((".yaml", ".yml")) and pathlib.Path(target).is_file():
        from .config import load_config

        cfg = load_config(target)
        return Target(cfg.lake.root, cfg.lake.storage_options, dataset or cfg.pack.dataset)
    return Target(target, {}, dataset)


def datasets(root: str, options: dict[str, str] | None = None) -> list[str]:
    return storage.list_dir(storage.join(root, "shards"), options)


def version_uri(root: str, dataset: str, version: int) -> str:
    return storage.join(mf.dataset_uri(root, dataset), f"v{version}")


def list_versions(root: str, dataset: str | None = None, options: dict[str, str] | None = None) -> list[dict]:
    out = []
    for ds in [dataset] if dataset else datasets(root, options):
        complete = set(mf.complete_versions(root, ds, options))
        for v in mf.version_numbers(root, ds, options):
            row = {"dataset": ds, "version": v, "complete": v in complete}
            if v in complete:
                m = mf.read_manifest(version_uri(root, ds, v), options)
                row.update(created_at=m.get("created_at"), formats=m.get("formats", [m.get("format")]),
                           files=len(m["files"]), bytes=sum(f["bytes"] for f in m["files"]),
                           n_docs=m.get("n_docs"), n_tokens=m.get("n_tokens"),
                           inputs=[f"{i['table']}@{i.get('version')}" for i in m.get("inputs", [])])
            out.append(row)
    return out


def pick_version(root: str, dataset: str, version: int | None, options: dict[str, str] | None = None) -> int:
    complete = mf.complete_versions(root, dataset, options)
    if version is None:
        if not complete:
            raise FileNotFoundError(f"dataset {dataset!r} under {root} has no complete shard version")
        return complete[-1]
    if version not in complete:
        state = "incomplete (no manifest.json)" if version in mf.version_numbers(root, dataset, options) else "absent"
        raise FileNotFoundError(f"{dataset} v{version} is {state}")
    return version


def file_digest(uri: str, options: dict[str, str] | None = None) -> tuple[str, int]:
    sha, n = hashlib.sha256(), 0
    with storage.open_input(uri, options) as src:
        while block := src.read(READ_BLOCK):
            sha.update(block)
            n += len(block)
    return sha.hexdigest(), n


def _all_files(uri: str, options: dict[str, str] | None) -> list[str]:
    """Paths (relative, '/'-separated) of every file under a version directory."""
    fs, base = storage.filesystem(uri, options)
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    return sorted(i.path[len(base):].lstrip("/") for i in infos if i.type == pafs.FileType.File)


def verify(root: str, dataset: str, version: int, options: dict[str, str] | None = None) -> list[str]:
    """Problems found (empty when every file matches the manifest)."""
    uri = version_uri(root, dataset, version)
    m = mf.read_manifest(uri, options)
    problems = []
    listed = set()
    for f in m["files"]:
        listed.add(f["path"])
        furi = storage.join(uri, *f["path"].split("/"))
        if not storage.exists(furi, options):
            problems.append(f"{f['path']}: missing")
            continue
        sha, n = file_digest(furi, options)
        if n != f["bytes"]:
            problems.append(f"{f['path']}: {n} bytes, manifest says {f['bytes']}")
        elif sha != f["sha256"]:
            problems.append(f"{f['path']}: sha256 {sha[:16]}..., manifest says {f['sha256'][:16]}...")
    for extra in sorted(set(_all_files(uri, options)) - listed - {mf.MANIFEST}):
        problems.append(f"{extra}: not listed in the manifest")
    return problems


def add_parser(sub) -> None:
    p = sub.add_parser("shards", help="list, show or verify shard versions")
    ssub = p.add_subparsers(dest="shards_command", required=True)
    for name, text in [("list", "every shard version, complete or not"),
                       ("show", "print a version's manifest.json (default: the newest complete one)"),
                       ("verify", "re-hash every file against the manifest; exit 1 on any difference")]:
        q = ssub.add_parser(name, help=text)
        q.add_argument("target", help="a pipeline config (.yaml) or a lake root")
        q.add_argument("--dataset", help="dataset name (default: the config's pack.dataset; list: all)")
        if name != "list":
            q.add_argument("--version", type=int, help="version number (default: the newest complete one)")
        q.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace, out=sys.stdout) -> int:
    t = resolve(args.target, args.dataset)
    if args.shards_command == "list":
        rows = list_versions(t.root, t.dataset, t.options)
        if args.json:
            print(json.dumps(rows, indent=2), file=out)
            return 0
        if not rows:
            print(f"no shard versions under {storage.join(t.root, 'shards')}", file=out)
        for r in rows:
            if not r["complete"]:
                print(f"{r['dataset']} v{r['version']}  INCOMPLETE (no manifest.json; never read)", file=out)
                continue
            print(f"{r['dataset']} v{r['version']}  {r['created_at']}  {','.join(r['formats'])}  {r['files']} files "
                  f"{r['bytes']} bytes  {r['n_docs']} docs  {r['n_tokens']} tokens  from {' '.join(r['inputs'])}",
                  file=out)
        return 0
    if not t.dataset:
        names = datasets(t.root, t.options)
        if len(names) != 1:
            print(f"tokenlake: name a dataset with --dataset (found {names})", file=sys.stderr)
            return 2
        t.dataset = names[0]
    try:
        v = pick_version(t.root, t.dataset, args.version, t.options)
    except FileNotFoundError as exc:
        print(f"tokenlake: {exc}", file=sys.stderr)
        return 1
    if args.shards_command == "show":
        print(json.dumps(mf.read_manifest(version_uri(t.root, t.dataset, v), t.options), indent=2, sort_keys=True),
              file=out)
        return 0
    problems = verify(t.root, t.dataset, v, t.options)
    n = len(mf.read_manifest(version_uri(t.root, t.dataset, v), t.options)["files"])
    if args.json:
        print(json.dumps({"dataset": t.dataset, "version": v, "files": n, "ok": not problems, "problems": problems}),
              file=out)
    else:
        for p in problems:
            print(f"MISMATCH {t.dataset} v{v}: {p}", file=out)
        print(f"{t.dataset} v{v}: {n} files, " + ("all match the manifest" if not problems
                                                  else f"{len(problems)} problem(s)"), file=out)
    return 1 if problems else 0
