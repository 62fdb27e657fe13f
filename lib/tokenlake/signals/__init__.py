"""Per-document signals as pure Arrow -> Arrow functions (engine independent, Dolma-style attributes)."""
