"""Pipeline stages. Each module exposes ``run(ctx) -> StageResult``; the transforms inside are
pure DataFrame -> DataFrame (or Arrow batch -> batch) functions, the I/O goes through ``ctx.lake``."""
