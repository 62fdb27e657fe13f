"""Data validation: expectation suites (schemas/expectations/) run with Great Expectations on the
engine's DataFrames, plus tokenlake checks computed with Spark where GX has no expectation."""
