"""Deduplication building blocks: MinHash signatures, LSH candidate edges, connected components
over DataFrames, and the per-cluster keep policy. ``stages/dedup.py`` wires them to the lake."""
