"""The run report: statistics gathered with Spark, rendered as one self-contained HTML page."""
