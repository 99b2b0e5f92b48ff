"""What counts as Bronze, and reading it as lines.

A Bronze table is `<table>/ingest_date=YYYY-MM-DD/*.jsonl`, and only that: any other entry (a
`backup/` directory, a `notes.txt` in a partition) is named in one warning and never read;
hidden entries (`.`/`_`) are skipped silently, as Spark does. A partition directory whose date
is not a date (`ingest_date=garbage`) is a bad-input error naming it: it holds data someone
meant to load, and guessing its day would put rows in the wrong partition.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.errors import BadInputError
from lakehouse.storage import Storage, is_hidden

log = logging.getLogger(__name__)

PARTITION = "ingest_date"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


Fingerprint = dict[str, list[int]]           # file name -> [length, modification time in ms]


@dataclass(frozen=True)
class BronzeListing:
    table: str                               # the table's URI
    partitions: dict[dt.date, list[str]]     # ingest date -> its .jsonl files, in order
    ignored: list[str]                       # entries that are not Bronze, relative to the table
    fingerprints: dict[dt.date, Fingerprint] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        return [f for day in sorted(self.partitions) for f in self.partitions[day]]

    @property
    def dates(self) -> list[dt.date]:
        return sorted(self.partitions)

    def only(self, dates) -> "BronzeListing":
        """The same listing restricted to `dates` (those it has)."""
        keep = set(dates)
        return BronzeListing(self.table, {d: f for d, f in self.partitions.items() if d in keep},
                             self.ignored,
                             {d: f for d, f in self.fingerprints.items() if d in keep})


def list_bronze(fs: Storage, table: str) -> BronzeListing:
    """The Bronze files of `table` by ingest date; raises BadInputError for a partition whose
    date does not parse, or when there is no Bronze at all."""
    if not fs.exists(table):
        raise BadInputError(f"not found at {table}; generate it first "
                            "(python ingestion/generate_all.py)")
    partitions: dict[dt.date, list[str]] = {}
    fingerprints: dict[dt.date, Fingerprint] = {}
    ignored: list[str] = []
    for name, is_dir in fs.list_status(table):
        if is_hidden(name):
            continue
        key, _, value = name.partition("=")
        if not is_dir or key != PARTITION:
            ignored.append(name + ("/" if is_dir else ""))
            continue
        try:
            day = dt.date.fromisoformat(value) if _DATE.match(value) else None
        except ValueError:
            day = None
        if day is None:
            raise BadInputError(f"has {table}/{name}: not a Bronze partition (expected "
                                f"{PARTITION}=YYYY-MM-DD, a real date); rename or move it")
        files, prints = [], {}
        for file, file_is_dir, length, modified in fs.list_files(f"{table}/{name}"):
            if is_hidden(file):
                continue
            if file.endswith(".jsonl") and not file_is_dir:
                files.append(f"{table}/{name}/{file}")
                prints[file] = [length, modified]
            else:
                ignored.append(f"{name}/{file}" + ("/" if file_is_dir else ""))
        partitions[day], fingerprints[day] = files, prints
    if ignored:
        log.warning("%s: ignored %d entr%s that %s not Bronze (only %s=YYYY-MM-DD/*.jsonl is "
                    "read): %s", table, len(ignored), "y" if len(ignored) == 1 else "ies",
                    "is" if len(ignored) == 1 else "are", PARTITION, ", ".join(ignored))
    if not any(partitions.values()):
        raise BadInputError(f"has no Bronze files ({PARTITION}=YYYY-MM-DD/*.jsonl) at {table}")
    return BronzeListing(table, partitions, ignored, fingerprints)


def read_lines(spark: SparkSession, listing: BronzeListing) -> DataFrame:
    """Every line of the listed Bronze files as (raw_record, source_file, ingest_date).

    Hadoop's line reader ends a line at \\n, \\r\\n or \\r and keeps blank lines; it does not
    decode, so `raw_record` holds the line's exact bytes (invalid UTF-8 included).
    """
    df = spark.read.option("basePath", listing.table).text(listing.files)
    return df.select(
        F.col("value").alias("raw_record"),
        F.col("_metadata.file_path").alias("source_file"),
        F.col(PARTITION).cast("date").alias(PARTITION),
    )
