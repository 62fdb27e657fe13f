"""Connected components of an edge DataFrame with joins only: alternating large-star / small-star.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014): large-star links every
larger neighbour of a node to the smallest node of its neighbourhood; small-star links a node and
its smaller neighbours to the smallest of them. Both keep the components and shrink the edge set,
and alternating them turns each component into a star around its smallest node in O(log^2 n)
rounds (plain min-label propagation needs as many rounds as the longest shortest path, which a
chain of near-duplicates makes long). Each edge set is materialized to a scratch table under the
lake (Sail's ``cache()`` is a no-op); the loop stops when a round leaves the edge set unchanged.
The labels are defined by the graph alone (smallest node id), not by partitioning or engine.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..tables import Lake
from .scratch import materialize


class ComponentsDidNotConverge(RuntimeError):
    """More rounds than ``max_rounds`` (``dedup.max_rounds``)."""


def _oriented(edges: DataFrame) -> DataFrame:
    """(hi, lo) with hi > lo, no self loops, no duplicates."""
    return (edges.select(F.greatest("src", "dst").alias("hi"), F.least("src", "dst").alias("lo"))
            .filter(F.col("hi") != F.col("lo")).distinct())


def large_star(edges: DataFrame) -> DataFrame:
    """(hi, lo) -> for each node u and each neighbour v > u: (v, smallest of u and its neighbours)."""
    both = edges.select(F.col("lo").alias("u"), F.col("hi").alias("v")).union(
        edges.select(F.col("hi").alias("u"), F.col("lo").alias("v")))
    smallest = both.groupBy("u").agg(F.min("v").alias("nmin"))
    linked = both.join(smallest, "u").filter(F.col("v") > F.col("u"))
    return _oriented(linked.select(F.col("v").alias("src"), F.least("nmin", "u").alias("dst")))


def small_star(edges: DataFrame) -> DataFrame:
    """(hi, lo) -> for each node u: u and each smaller neighbour linked to the smallest of them."""
    smallest = edges.groupBy("hi").agg(F.min("lo").alias("m"))
    linked = edges.join(smallest, "hi")
    return _oriented(linked.select(F.col("lo").alias("src"), F.col("m").alias("dst")).union(
        smallest.select(F.col("hi").alias("src"), F.col("m").alias("dst"))))


def connected_components(lake: Lake, edges: DataFrame, max_rounds: int = 64,
                         label: str = "dedup-cc") -> tuple[DataFrame, list[str], int]:
    """edges (src, dst) -> (node, label = smallest node of its component), the scratch URIs, and rounds.

    Only nodes that appear in an edge are returned. The caller drops the scratch URIs when done.
    """
    current, uri = materialize(lake, _oriented(edges), f"{label}-e0")
    scratch = [uri]
    for rounds in range(1, max_rounds + 1):
        large, large_uri = materialize(lake, large_star(current), f"{label}-l{rounds}")
        new, uri = materialize(lake, small_star(large), f"{label}-s{rounds}")
        lake.drop_scratch(large_uri)
        changed = (new.join(current, ["hi", "lo"], "left_anti").limit(1).count()
                   + current.join(new, ["hi", "lo"], "left_anti").limit(1).count())
        lake.drop_scratch(scratch.pop())
        scratch.append(uri)
        current = new
        if changed == 0:
            # a fixed point is a star around each component's smallest node
            labels = current.groupBy(F.col("hi").alias("node")).agg(F.min("lo").alias("label")).union(
                current.select(F.col("lo").alias("node"), F.col("lo").alias("label"))
                .join(current.select(F.col("hi").alias("node")), "node", "left_anti").distinct())
            return labels, scratch, rounds
    for uri in scratch:
        lake.drop_scratch(uri)
    raise ComponentsDidNotConverge(f"connected components still changing after {max_rounds} rounds "
                                   "(dedup.max_rounds)")
