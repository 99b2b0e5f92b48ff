"""Which Bronze partitions a run reads, and the record of which ones are published.

The published ingest state lives in `_publish/current.json` under "ingest", written by the same
replace that publishes the run's tables (lakehouse/publish.py): per Bronze table, per published
ingest date, the files read (name -> [length, modification time]) and their line count. A run
that fails before that commit leaves the state as it was, so the next run reads the same
partitions again.

A run plans each table (docs/incremental.md):
- full refresh: every partition; the first run of a table, or `--full-refresh`;
- incremental (the default once the table's state exists): the partitions not in the state;
- backfill START..END: the ingest dates in the range, read again (a date whose partition is gone
  drops its rows explicitly).
Outside a backfill's range, a published partition that has vanished or changed stops the run:
publishing would silently lose or double count rows.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from lakehouse.bronze import BronzeListing, list_bronze
from lakehouse.contract import BRONZE_TABLES
from lakehouse.errors import BadInputError
from lakehouse.steps import RunMode

FULL, INCREMENTAL, BACKFILL, NOTHING = "full", "incremental", "backfill", "nothing"


class PublishedBronzeChanged(BadInputError):
    """A published ingest partition vanished or changed outside a backfill's range."""


IngestState = dict[str, dict]        # ISO ingest date -> {"files": Fingerprint, "lines": int}


@dataclass(frozen=True)
class IngestPlan:
    table: str
    kind: str                         # FULL, INCREMENTAL, BACKFILL or NOTHING
    listing: BronzeListing            # the partitions this run reads
    replaced: tuple[dt.date, ...]     # published ingest dates whose earlier rows this run replaces
    state: IngestState                # the published state of the table before the run

    @property
    def read_dates(self) -> list[dt.date]:
        return self.listing.dates

    @property
    def reprocessed(self) -> list[dt.date]:
        """Ingest dates whose rows this run (re)builds: everything from them is replaced."""
        return sorted(set(self.read_dates) | set(self.replaced))

    @property
    def kept(self) -> IngestState:
        """The published partitions this run leaves as they are."""
        redo = {d.isoformat() for d in self.reprocessed}
        return {} if self.kind == FULL else {d: e for d, e in self.state.items() if d not in redo}

    def describe(self) -> str:
        dates = self.read_dates
        span = (f"{len(dates)} partition(s) {dates[0]}..{dates[-1]}" if dates else "no partition")
        if self.kind == NOTHING:
            return f"{self.table}: nothing new ({len(self.state)} ingest partitions published)"
        dropped = sorted(set(self.replaced) - set(dates))
        gone = f"; drops {', '.join(map(str, dropped))} (gone from Bronze)" if dropped else ""
        return f"{self.table}: {self.kind}, reads {span}{gone}"

    def summary(self) -> dict:
        """What the run manifest records about the table."""
        return {"kind": self.kind, "read": [d.isoformat() for d in self.read_dates],
                "replaced": [d.isoformat() for d in self.replaced]}

    def state_after(self, lines: dict[dt.date, int]) -> IngestState:
        """The table's published state once this run is published (`lines`: per date read)."""
        read = {d.isoformat(): {"files": self.listing.fingerprints.get(d, {}), "lines": lines.get(d, 0)}
                for d in self.read_dates}
        return dict(sorted({**self.kept, **read}.items()))


def plan_run(fs, paths, mode: RunMode, tables: Sequence[str] = BRONZE_TABLES) -> dict[str, IngestPlan]:
    """Each table's plan, from the Bronze listing and the published state in
    `_publish/current.json` (`fs`: a Storage, or a LocalStorage before any JVM runs)."""
    current = json.loads(fs.read_text(paths.publish_current)) if fs.exists(paths.publish_current) else {}
    published = current.get("tables", {})
    plans = {}
    for table in tables:
        state = current.get("ingest", {}).get(table)
        outputs = (paths.silver(table), paths.lineage(table), paths.quarantine(table))
        if state and not all(paths.relative(p) in published for p in outputs):
            state = None          # a state without its tables: rebuild them in full
        plans[table] = plan_ingest(fs, paths.bronze(table), table, mode, state)
    return plans


def plan_ingest(fs, bronze_uri: str, table: str, mode: RunMode, state: IngestState | None) -> IngestPlan:
    """The partitions of Bronze `table` a run in `mode` reads; `state` is the table's published
    ingest state (None when the table has never been published incrementally)."""
    try:
        listing = list_bronze(fs, bronze_uri)
    except BadInputError as exc:
        if not (mode.backfill and state):        # a backfill may drop every partition there was
            raise BadInputError(f"Bronze table {table} {exc}") from None
        listing = BronzeListing(bronze_uri, {}, [], {})
    state = state or {}
    present = {d.isoformat() for d in listing.dates}
    in_range = (lambda iso: mode.backfill[0].isoformat() <= iso <= mode.backfill[1].isoformat()) \
        if mode.backfill else (lambda iso: False)
    vanished = sorted(d for d in state if d not in present and not in_range(d))
    if vanished:
        raise PublishedBronzeChanged(
            f"Bronze {table}: published ingest partition(s) {', '.join(vanished)} are gone; "
            "publishing would silently drop their rows. Restore them, or drop them on purpose "
            f"with --backfill {vanished[0]}..{vanished[-1]}")
    if mode.full_refresh or not state:
        return IngestPlan(table, FULL, listing, (), state)
    changed = sorted(d for d in state if d in present and not in_range(d)
                     and listing.fingerprints[dt.date.fromisoformat(d)] != state[d]["files"])
    if changed:
        raise PublishedBronzeChanged(
            f"Bronze {table}: published ingest partition(s) {', '.join(changed)} changed since they "
            f"were published; re-process them with --backfill {changed[0]}..{changed[-1]} "
            "(or --full-refresh)")
    if mode.backfill:
        dates = [d for d in listing.dates if in_range(d.isoformat())]
        replaced = tuple(sorted(dt.date.fromisoformat(d) for d in state if in_range(d)))
        if not dates and not replaced:
            raise BadInputError(f"--backfill {mode.backfill[0]}..{mode.backfill[1]}: Bronze {table} "
                                "has no ingest partition in that range, published or not")
        return IngestPlan(table, BACKFILL, listing.only(dates), replaced, state)
    new = [d for d in listing.dates if d.isoformat() not in state]
    return IngestPlan(table, INCREMENTAL if new else NOTHING, listing.only(new), (), state)
