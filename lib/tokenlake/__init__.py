"""tokenlake: Spark-native data-lake preprocessing and tokenization for LLM pretraining."""

__version__ = "0.1.0"
