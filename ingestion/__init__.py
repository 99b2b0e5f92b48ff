"""Deterministic synthetic generators: the stand-in for Kafka, writing raw JSONL to Bronze."""
