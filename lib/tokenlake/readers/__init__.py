"""Format readers: a file in, records out (documents or quarantine entries). No Spark here."""
