"""Shared code for every job: config, CLI, SparkSession, paths, storage, the data contract."""
