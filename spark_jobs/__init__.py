"""One PySpark job per file; each runs with `spark-submit spark_jobs/<job>.py` or in-process."""
