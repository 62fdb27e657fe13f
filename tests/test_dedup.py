"""The dedup stage on the shared Sail engine: clusters, keep policy, skew, incremental runs, engines.

Texts are real: the license texts of the demo corpus (GNU/Debian), cut and combined here.
"""
import re

import pytest
from pyspark.sql import functions as F

from tokenlake import ids
from tokenlake.config import from_dict
from tokenlake.demo import CORPUS, demo_config
from tokenlake.schemas_registry import spec
from tokenlake.stages import dedup
from tokenlake.stages.base import StageContext
from tokenlake.tables import Lake

from test_dedup_minhash import ref_jaccard


def license_text(name):
    return (CORPUS / "docs" / name).read_text(encoding="utf-8")


def words(name):
    return re.findall(r"\S+", license_text(name))


def doc(source, name, text, **extra):
    row = {c: None for c in spec("silver/documents").names}
    row.update(doc_id=ids.doc_id(source, name, 0), source=source, url=name, text=text, n_chars=len(text),
               n_words=len(text.split()), n_lines=text.count("\n") + 1, lang="en", lang_score=1.0,
               quality_score=0.5, pii_counts={}, signals={})
    row.update(extra)
    return row


def write_silver(lake, rows, files=1):
    df = lake.spark.createDataFrame(rows, spec("silver/documents").spark_schema).repartition(files)
    lake.write(df, "silver/documents", mode="overwrite")


def run_dedup(lake, **overrides):
    cfg = from_dict(demo_config(lake.root), overrides=[f"dedup.{k}={v}" for k, v in overrides.items()])
    result = dedup.run(StageContext(cfg, lake, "test", quiet=True))
    assert result.n_in == result.n_kept + result.n_rejected
    return result


def outcome(lake):
    gold = {r.doc_id: (r.cluster_id, r.cluster_size) for r in lake.read("gold/documents").collect()}
    rejected = {r.doc_id: (r.reason, r.kept_doc_id) for r in
                lake.read("silver/rejected").filter(F.col("stage") == "dedup").collect()}
    return gold, rejected


def chain():
    """A ~ B and B ~ C (Jaccard ~0.84), but A and C only ~0.7: three overlapping windows of GPL-3."""
    w = words("GPL-3.txt")
    n = len(w)
    cut = lambda lo, hi: " ".join(w[int(lo * n):int(hi * n)])  # noqa: E731
    return cut(0, 0.85), cut(0.075, 0.925), cut(0.15, 1.0)


def test_exact_near_and_unique_documents(lake):
    rows = [doc("lic", "gfdl-1.2", license_text("GFDL-1.2.txt")), doc("lic", "gfdl-1.3", license_text("GFDL-1.3.txt")),
            doc("lic", "gfdl-1.3-copy", license_text("GFDL-1.3.txt").upper()),  # exact after case folding
            doc("lic", "apache", license_text("Apache-2.0.txt")), doc("lic", "mpl", license_text("MPL-2.0.txt"))]
    write_silver(lake, rows)
    result = run_dedup(lake)
    gold, rejected = outcome(lake)
    by_name = {r["url"]: r["doc_id"] for r in rows}
    gfdl = sorted(by_name[k] for k in ("gfdl-1.2", "gfdl-1.3", "gfdl-1.3-copy"))
    kept = gfdl[0]  # keep=earliest without any crawl date: the smallest doc_id
    assert gold == {kept: (kept, 3), by_name["apache"]: (by_name["apache"], 1), by_name["mpl"]: (by_name["mpl"], 1)}
    text_of = {r["doc_id"]: r["text"].lower() for r in rows}  # the copy differs from GFDL-1.3 only in case
    expected = {d: ("exact_duplicate" if text_of[d] == text_of[kept] else "near_duplicate", kept) for d in gfdl[1:]}
    assert rejected == expected
    assert {"exact_duplicate", "near_duplicate"} == {r for r, _ in rejected.values()}
    assert result.detail["reasons"] == {"exact_duplicate": 1, "near_duplicate": 1}
    assert result.detail["signatures_computed"] == 5
    gold_cols = lake.read("gold/documents").columns
    assert set(spec("silver/documents").names) <= set(gold_cols)


def test_transitive_chain_is_one_cluster(lake):
    a, b, c = chain()
    assert ref_jaccard(a, b) > 0.8 and ref_jaccard(b, c) > 0.8 and ref_jaccard(a, c) < 0.75
    rows = [doc("web", "a", a), doc("web", "b", b), doc("web", "c", c), doc("web", "bsd", license_text("BSD.txt"))]
    write_silver(lake, rows)
    run_dedup(lake, verify_threshold=0.8)  # A-C alone would fail verification: only the chain joins them
    gold, rejected = outcome(lake)
    abc = sorted(r["doc_id"] for r in rows[:3])
    assert gold[abc[0]] == (abc[0], 3)
    assert rejected == {abc[1]: ("near_duplicate", abc[0]), abc[2]: ("near_duplicate", abc[0])}
    assert rows[3]["doc_id"] in gold


def test_same_clusters_whatever_the_partitioning(lake, spark, tmp_path):
    a, b, c = chain()
    rows = [doc("web", f"d{i}", t) for i, t in enumerate([a, b, c, license_text("LGPL-2.txt"), license_text("LGPL-2.1.txt"),
                                                          license_text("GPL-2.txt"), license_text("GPL-3.txt"),
                                                          license_text("GPL.txt")])]
    results = []
    old = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        for files, shuffle in ((1, "1"), (5, "7")):
            spark.conf.set("spark.sql.shuffle.partitions", shuffle)
            lk = Lake(spark, str(tmp_path / f"lake{files}"), "delta")
            write_silver(lk, rows, files=files)
            run_dedup(lk)
            results.append(outcome(lk))
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", old)
    assert results[0] == results[1]
    assert len(results[0][1]) >= 3  # the chain and GPL/GPL-3 really are duplicates


def test_skewed_bucket_gives_linear_edges(lake):
    """400 copies of BSD with a different 3-word prefix each: one bucket per band holds them all."""
    bsd, filler = license_text("BSD.txt"), words("GPL-3.txt")
    n = 400
    rows = [doc("web", f"page{i}", " ".join(filler[i:i + 3]) + "\n" + bsd) for i in range(n)]
    rows.append(doc("web", "other", license_text("MPL-2.0.txt")))
    write_silver(lake, rows, files=4)
    result = run_dedup(lake)
    gold, rejected = outcome(lake)
    assert len(gold) == 2 and len(rejected) == n - 1
    smallest = min(r["doc_id"] for r in rows[:n])
    assert gold[smallest] == (smallest, n)
    # star edges: at most one per member per band (+1 exact), never the n(n-1)/2 = 79800 pairs
    assert result.detail["candidate_edges"] <= (n - 1) * (14 + 1)
    assert result.detail["duplicate_clusters"] == 1


def test_incremental_batch_reuses_signatures_and_keeps_published(lake):
    first = [doc("web", "gfdl-1.3", license_text("GFDL-1.3.txt")), doc("web", "apache", license_text("Apache-2.0.txt"))]
    write_silver(lake, first)
    assert run_dedup(lake).detail["signatures_computed"] == 2
    sigs_before = {r.doc_id: r.signature for r in lake.read("dedup/signatures").collect()}
    # the new near-duplicate gets a smaller doc_id than the published one: it would win without keep_existing
    name = next(f"new{i}" for i in range(100) if ids.doc_id("web", f"new{i}", 0) < first[0]["doc_id"])
    second = first + [doc("web", name, license_text("GFDL-1.2.txt")), doc("web", "mpl", license_text("MPL-2.0.txt"))]
    write_silver(lake, second)
    result = run_dedup(lake)
    assert result.detail["signatures_computed"] == 2 and result.n_in == 4
    sigs_after = lake.read("dedup/signatures").collect()
    assert len(sigs_after) == 4
    assert all(sigs_before[r.doc_id] == r.signature for r in sigs_after if r.doc_id in sigs_before)
    gold, rejected = outcome(lake)
    new_id, old_id = second[2]["doc_id"], first[0]["doc_id"]
    assert new_id < old_id
    assert gold[old_id] == (new_id, 2)  # the cluster id is still the smallest doc_id
    assert rejected == {new_id: ("near_duplicate", old_id)}
    # unchanged input: nothing to sign, same result
    assert run_dedup(lake).detail["signatures_computed"] == 0
    assert outcome(lake) == (gold, rejected)
    # without keep_existing, the smallest doc_id wins again
    run_dedup(lake, keep_existing=False)
    assert outcome(lake)[1] == {old_id: ("near_duplicate", new_id)}


def test_changed_text_is_signed_again(lake):
    row = doc("web", "x", license_text("GPL-2.txt"))
    write_silver(lake, [row])
    run_dedup(lake)
    write_silver(lake, [dict(row, text=license_text("GPL-1.txt"))])
    assert run_dedup(lake).detail["signatures_computed"] == 1


def test_scope_source_or_global(lake):
    text = license_text("LGPL-3.txt")
    rows = [doc("a", "x", text), doc("b", "x", text)]
    write_silver(lake, rows)
    assert run_dedup(lake).n_rejected == 0  # default scope: per (source, snapshot)
    assert run_dedup(lake, scope="source").n_rejected == 0
    result = run_dedup(lake, scope="global")
    assert result.n_rejected == 1
    assert outcome(lake)[1] == {max(r["doc_id"] for r in rows): ("exact_duplicate", min(r["doc_id"] for r in rows))}


def test_keep_longest_and_no_near(lake):
    rows = [doc("web", "long", license_text("GFDL-1.3.txt")), doc("web", "short", license_text("GFDL-1.2.txt"))]
    write_silver(lake, rows)
    run_dedup(lake, keep="longest")
    assert outcome(lake)[1] == {rows[1]["doc_id"]: ("near_duplicate", rows[0]["doc_id"])}
    result = run_dedup(lake, near=False)
    assert result.n_rejected == 0 and result.detail["signatures_computed"] == 0


def test_keep_policy_on_dates_and_scores(spark):
    from tokenlake.dedup import keep

    df = spark.createDataFrame(
        [("a", "c1", False, None, 0.9, 10), ("b", "c1", False, "2024-03-01T00:00:00Z", 0.1, 30),
         ("c", "c1", False, "2024-01-01T00:00:00Z", None, 20), ("d", "c2", False, None, None, 5),
         ("e", "c2", True, None, None, 1)],
        "doc_id string, cluster_id string, in_gold boolean, crawl_date string, quality_score double, n_chars bigint")

    def kept(policy, existing=False):
        keys, note = keep.sort_keys(df.columns, policy, "crawl_date", "quality_score", existing)
        return {r.cluster_id: r.kept_doc_id for r in keep.kept_per_cluster(df, keys).collect()}, note

    assert kept("earliest")[0] == {"c1": "c", "c2": "d"}
    assert kept("quality")[0] == {"c1": "a", "c2": "d"}
    assert kept("longest")[0] == {"c1": "b", "c2": "d"}
    assert kept("longest", existing=True)[0] == {"c1": "b", "c2": "e"}
    keys, note = keep.sort_keys(["doc_id", "n_chars"], "quality", "crawl_date", "quality_score", False)
    assert "no 'quality_score' column" in note


def test_demo_near_duplicates_same_on_sail_and_jvm(demo_sail, demo_jvm, spark):
    """The demo corpus has GFDL-1.2 ~ GFDL-1.3 (Jaccard 0.85): the same clusters on both engines."""
    results = []
    for cfg, _ in (demo_sail, demo_jvm):
        lk = Lake(spark, cfg.lake.root, cfg.table_format)
        results.append(outcome(lk))
    assert results[0] == results[1]
    reasons = {r for r, _ in results[0][1].values()}
    assert reasons == {"exact_duplicate", "near_duplicate"}


def test_connected_components_match_union_find(lake, spark):
    """A 300-node path (pointer jumping: far fewer rounds than its length) plus random edges, vs union-find."""
    import random

    from tokenlake.dedup.components import connected_components

    rng = random.Random(7)
    names = [f"n{rng.getrandbits(40):012x}" for _ in range(800)]
    path = names[:300]
    rng.shuffle(path)  # the path visits ids in random order, so labels must travel both ways
    edges = list(zip(path, path[1:])) + [tuple(rng.sample(names[300:], 2)) for _ in range(300)]
    parent = {n: n for n in names}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    members = {}
    for a, b in edges:
        for n in (a, b):
            members.setdefault(find(n), set()).add(n)
    expected = {n: min(ms) for ms in members.values() for n in ms}
    labels, scratch, rounds = connected_components(lake, spark.createDataFrame(edges, "src string, dst string"))
    try:
        assert {r.node: r.label for r in labels.collect()} == expected
    finally:
        for uri in scratch:
            lake.drop_scratch(uri)
    assert rounds <= 12, rounds  # min-label propagation alone needs ~300 here


def test_empty_input_and_wordless_documents(lake):
    write_silver(lake, [])
    result = run_dedup(lake)
    assert (result.n_in, result.n_kept, result.n_rejected) == (0, 0, 0)
    rows = [doc("web", "p1", "!!! ??? ..."), doc("web", "p2", "!!! ??? ..."), doc("web", "p3", "*** ---")]
    write_silver(lake, rows)
    result = run_dedup(lake)  # no words, no signature: only the exact hash can match them
    assert (result.n_in, result.n_kept, result.n_rejected) == (3, 2, 1)
    assert set(outcome(lake)[1].values()) == {("exact_duplicate", min(rows[0]["doc_id"], rows[1]["doc_id"]))}


def test_scope_snapshot_dedups_within_each_crawl_snapshot(lake):
    """Same page in two Common Crawl snapshots: kept once per snapshot by default, once with scope=source."""
    text = license_text("LGPL-2.1.txt")
    paths = ["crawl/CC-MAIN-2025-05/segments/a.warc.gz", "crawl/CC-MAIN-2025-05/segments/b.warc.gz",
             "crawl/CC-MAIN-2025-08/segments/a.warc.gz"]
    rows = [doc("cc", p, text) for p in paths]
    write_silver(lake, rows)
    bronze = []
    for r, p in zip(rows, paths):
        b = {c: None for c in spec("bronze/documents").names}
        b.update(doc_id=r["doc_id"], source="cc", text=text, file_uri=f"s3://bucket/{p}", record_offset=0,
                 decode_errors=0, ingest_run="test")
        bronze.append(b)
    lake.write(lake.spark.createDataFrame(bronze, spec("bronze/documents").spark_schema), "bronze/documents",
               mode="overwrite")
    result = run_dedup(lake)
    gold, rejected = outcome(lake)
    may = sorted(r["doc_id"] for r in rows[:2])
    assert rejected == {may[1]: ("exact_duplicate", may[0])}
    assert set(gold) == {may[0], rows[2]["doc_id"]}
    assert result.detail["scope"] == "snapshot"
    assert run_dedup(lake, scope="source").n_rejected == 2
