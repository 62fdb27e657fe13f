"""Rebuild the demo corpus shipped in lib/tokenlake/demo/corpus from Debian files on this machine.

Why: the demo must run offline on real text. Debian ships real multilingual prose in its
gettext catalogs (translated help texts of bash, coreutils, wget, tar) and real English
documents in /usr/share/common-licenses. Both are freely redistributable. The corpus also
gets the things a pipeline must cope with: exact duplicates (the GPL/LGPL symlinks, re-posted
pages differing only in case and whitespace), junk (tiny pages), a JSONL line with the wrong
schema, a line of invalid UTF-8 and an empty file.

Run: python tools/make_demo_corpus.py  (deterministic: same machine files -> same corpus)
"""
from __future__ import annotations

import gettext
import gzip
import json
import os
import pathlib

OUT = pathlib.Path(__file__).resolve().parents[1] / "lib" / "tokenlake" / "demo" / "corpus"
LANGS = ["de", "fr", "es", "it", "pl", "pt_BR", "ru", "uk", "tr", "vi", "ja", "zh_CN", "ko"]
DOMAINS = ["bash", "coreutils", "wget", "tar"]
MESSAGES_PER_DOC = 12
DOCS_PER_LANG_DOMAIN = 3


def catalog(lang: str, domain: str) -> list[tuple[str, str]]:
    path = pathlib.Path(f"/usr/share/locale/{lang}/LC_MESSAGES/{domain}.mo")
    if not path.exists():
        return []
    with path.open("rb") as fh:
        cat = gettext.GNUTranslations(fh)._catalog  # noqa: SLF001 - plain dict of msgid -> msgstr
    pairs = [(k, v) for k, v in cat.items() if isinstance(k, str) and k and len(v) > 60]
    return sorted(pairs)


def web_docs() -> list[dict]:
    docs = []
    for domain in DOMAINS:
        english_done = set()
        for lang in LANGS:
            pairs = catalog(lang, domain)
            for d in range(DOCS_PER_LANG_DOMAIN):
                chunk = pairs[d * MESSAGES_PER_DOC:(d + 1) * MESSAGES_PER_DOC]
                if len(chunk) < 3:
                    continue
                docs.append({"id": f"{domain}-{lang}-{d}", "url": f"https://docs.example.org/{lang}/{domain}/{d}",
                             "text": "\n\n".join(v.strip() for _, v in chunk)})
                if d not in english_done:
                    english_done.add(d)
                    docs.append({"id": f"{domain}-en-{d}", "url": f"https://docs.example.org/en/{domain}/{d}",
                                 "text": "\n\n".join(k.strip() for k, _ in chunk)})
    return docs


def main() -> None:
    docs = web_docs()
    # Re-posted pages: same text under another URL, and a copy that differs in case/whitespace only.
    dups = []
    for doc in docs[::9]:
        dups.append({"id": doc["id"] + "-mirror", "url": doc["url"].replace("docs.example.org", "mirror.example.net"),
                     "text": doc["text"]})
        dups.append({"id": doc["id"] + "-shouty", "url": doc["url"] + "?print=1",
                     "text": "  " + doc["text"].upper().replace("\n\n", "\n \n") + "\n"})
    junk = [{"id": f"junk-{i}", "url": f"https://spam.example.com/{i}", "text": t}
            for i, t in enumerate(["404 Not Found", "ok", "Click here!!!", "   ", "Loading..."])]
    rows = docs + dups + junk
    half = len(rows) // 2
    web = OUT / "web"
    web.mkdir(parents=True, exist_ok=True)
    with (web / "part-0.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows[:half]:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        fh.write('{"id": "bad-schema", "url": "https://x.example.com/", "text": 12345}\n')
        fh.write("this line is not json\n")
    raw = b"".join((json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n").encode() for r in rows[half:])
    raw += b'{"id": "bad-utf8", "url": "https://x.example.com/u", "text": "caf\xe9 cr\xe8me \xff\xfe broken"}\n'
    with open(web / "part-1.jsonl.gz", "wb") as fh:  # mtime=0: byte-identical rebuilds
        with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
            gz.write(raw)
    (web / "empty.jsonl").write_bytes(b"")
    docs_dir = OUT / "docs"
    docs_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(os.listdir("/usr/share/common-licenses")):
        text = (pathlib.Path("/usr/share/common-licenses") / name).read_text(encoding="utf-8", errors="replace")
        (docs_dir / f"{name}.txt").write_text(text, encoding="utf-8")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{len(rows)} web docs, {len(os.listdir(docs_dir))} text files, {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
