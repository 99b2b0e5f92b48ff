"""One atomic publish per run, a gate that cannot be bypassed, and the one way to read a table.

Protocol (docs/architecture.md has the picture):
1. A run stages every table it writes under `_staging/<run_id>/` (Parquet; a marker written last
   names the staged version, see lakehouse/tables.py).
2. The data-quality step records its verdict in the run record `_publish/runs/<run_id>.json`,
   per Silver and quarantine table, against the exact staged version it checked.
3. `publish_run` refuses a staged Silver or quarantine version without a passing verdict for that
   version, writes its plan (each staged table's files) into the run record (`committing`),
   moves each staged table's files into its published path and adds them in one Delta commit
   tagged with the run id (no data is rewritten), then replaces `_publish/current.json` — the
   run's commit point — and marks the record `committed`.
4. A crash anywhere in 3 is rolled forward by `recover`: the plan is in the record, each planned
   file is still staged or already moved, and a table that already holds the run's commit is not
   committed twice.
   A run whose gate failed is never in the plan, so there is never a guess, and never a mix.

Readers open the versions `_publish/current.json` names (`open_table`), so a run's tables appear
together or not at all; `open_table(..., as_of_run=ID)` reads what a table said after run ID.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import DataFrame

from lakehouse.errors import BadInputError, DataQualityError
from lakehouse.paths import join
from lakehouse.steps import JobContext
from lakehouse.tables import TableStore

log = logging.getLogger(__name__)

GATED_LAYERS = ("silver", "quarantine", "lineage")   # a staged version of these needs a passing gate
COMMITTING, COMMITTED = "committing", "committed"
_recovered: set[str] = set()
_recover_lock = threading.Lock()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def read_json(store: TableStore, uri: str) -> dict | None:
    if not store.fs.exists(uri):
        return None
    return json.loads(store.fs.read_text(uri))


def write_json(store: TableStore, uri: str, payload: dict) -> None:
    store.fs.write_text(uri, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def run_record(store: TableStore, run_id: str) -> dict:
    return read_json(store, store.paths.run_record(run_id)) or {"run_id": run_id}


# --- the gate -------------------------------------------------------------------------------

def record_gate(store: TableStore, run_id: str, verdicts: dict[str, tuple[str, bool]]) -> None:
    """Record the data-quality verdict of each checked table: relative path -> (staged version
    checked, passed)."""
    record = run_record(store, run_id)
    gate = record.setdefault("gate", {})
    for rel, (version, passed) in verdicts.items():
        gate[rel] = {"version": version, "passed": passed, "checked_at": _now()}
    write_json(store, store.paths.run_record(run_id), record)


def check_gate(record: dict, rel: str, version: str) -> None:
    """Raise unless the run's gate passed on exactly staged version `version` of `rel`."""
    run_id = record["run_id"]
    verdict = record.get("gate", {}).get(rel)
    if verdict is None:
        raise DataQualityError(f"{rel} staged by run {run_id} has not been through the "
                               "data-quality gate (run dq_checks); nothing published")
    if not verdict["passed"]:
        raise DataQualityError(f"{rel} staged by run {run_id} failed the data-quality gate; "
                               "it can never be published (fix the input and run again)")
    if verdict["version"] != version:
        raise DataQualityError(f"{rel} staged by run {run_id} changed after the gate checked it "
                               f"(checked version {verdict['version']}, now {version}); run dq_checks again")


# --- publishing -----------------------------------------------------------------------------

def publish_run(store: TableStore, run_id: str) -> dict[str, int]:
    """Publish everything run `run_id` staged, all or nothing; returns table -> new version."""
    recover(store)
    record = run_record(store, run_id)
    if record.get("publish", {}).get("state") == COMMITTED:
        log.info("run %s is already published", run_id)
        return {rel: e["version"] for rel, e in record["publish"]["tables"].items()}
    staged = store.staged_tables(run_id)
    if not staged:
        raise BadInputError(f"run {run_id} staged nothing to publish; run its steps first "
                            "(a failed run continues with --resume RUN_ID)")
    current = read_json(store, store.paths.publish_current) or {}
    plan = {}
    for rel in staged:
        info = store.staged_info(join(store.paths.root, rel), run_id)
        if rel.split("/", 1)[0] in GATED_LAYERS:
            check_gate(record, rel, info["version"])
        replace = info.get("replace")
        base_moved = replace is not None and current.get("tables", {}).get(rel) != replace["base_version"]
        if current.get("planned_at", "") > info["staged_at"] or base_moved:
            raise BadInputError(
                f"run {run_id} was overtaken: run {current['run_id']} published after {rel} was "
                "staged, so publishing it would replace newer data with older; start a new run")
        plan[rel] = {"staged_version": info["version"], "partition_by": info["partition_by"],
                     "replace": replace, "ingest": info.get("ingest"), "schema": info["schema"],
                     "files": store.staged_files(join(store.paths.root, rel), run_id)}
    record["publish"] = {"state": COMMITTING, "started_at": _now(), "tables": plan}
    write_json(store, store.paths.run_record(run_id), record)
    return _commit(store, record)


def _commit(store: TableStore, record: dict) -> dict[str, int]:
    """Steps 3-4 of the protocol; safe to repeat after a crash at any point."""
    run_id, tables = record["run_id"], record["publish"]["tables"]
    _plan_files(store, record)

    def commit_table(rel: str, entry: dict) -> None:
        published = join(store.paths.root, rel)
        version = store.version_committed_by(published, run_id)
        if version is None:
            staged = store.paths.staged(published, run_id)
            if (store.staged_info(published, run_id) or {}).get("version") != entry["staged_version"]:
                raise BadInputError(f"{staged}: the staged version run {run_id} planned to publish "
                                    "is gone; nothing more can be published for this run")
            replace = entry.get("replace")
            if replace is not None and not replace.get("append") and not replace["values"]:
                version = replace["base_version"]         # nothing changed in this table
            else:
                version = store.commit_staged(published, run_id, entry["files"], entry["schema"],
                                              entry["partition_by"], replace)
                log.info("published %s (version %d%s)", rel, version,
                         "" if not replace else ", appended" if replace.get("append") else
                         f", {len(replace['values'])} {replace['column']} value(s) replaced")
        entry["version"] = version

    # Commits to different tables are independent; most of each is driver-side latency (the
    # table's snapshot is read first), so they all go side by side.
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(tables))), thread_name_prefix="publish") as pool:
        for future in [pool.submit(commit_table, rel, e) for rel, e in sorted(tables.items())]:
            future.result()
    current = read_json(store, store.paths.publish_current) or {"tables": {}}
    snapshot = {**current["tables"], **{rel: e["version"] for rel, e in tables.items()}}
    # which Bronze partitions are published: recorded by the same replace as the tables
    ingest = {**current.get("ingest", {}),
              **{e["ingest"]["table"]: e["ingest"]["state"] for e in tables.values() if e.get("ingest")}}
    write_json(store, store.paths.publish_current, {
        "run_id": run_id, "planned_at": record["publish"]["started_at"], "published_at": _now(),
        "tables": dict(sorted(snapshot.items())), "ingest": dict(sorted(ingest.items()))})
    record["publish"].update(state=COMMITTED, committed_at=_now())
    record["snapshot"] = snapshot
    write_json(store, store.paths.run_record(run_id), record)
    store.fs.delete(store.paths.staging_dir(run_id))      # published: its staging is done
    if not store.fs.list_names(store.paths.staging_root):  # other runs' staging stays
        store.fs.delete(store.paths.staging_root)
    return {rel: e["version"] for rel, e in tables.items()}


def _plan_files(store: TableStore, record: dict) -> None:
    """Complete a plan recorded by a version of the publish that rewrote the staged rows (it
    names no files): the staged files of each table it has not committed yet, recorded before
    the first one moves."""
    run_id, missing = record["run_id"], []
    for rel, entry in record["publish"]["tables"].items():
        published = join(store.paths.root, rel)
        if ("files" not in entry and store.has_staged(published, run_id)
                and store.version_committed_by(published, run_id) is None):
            replace = entry.get("replace")
            schema = (store.read_version(published, replace["base_version"]).schema if replace
                      else store.staged_data(published, run_id).schema)
            entry.update(files=store.staged_files(published, run_id), schema=schema.json())
            missing.append(rel)
    if missing:
        write_json(store, store.paths.run_record(run_id), record)


def recover(store: TableStore) -> None:
    """Roll forward every run whose publish was interrupted (once per process and data root)."""
    with _recover_lock:
        if store.paths.root in _recovered:
            return
        runs_dir = store.paths.run_record("x").rsplit("/", 1)[0]
        for name in store.fs.list_names(runs_dir):
            record = read_json(store, f"{runs_dir}/{name}") if name.endswith(".json") else None
            if record and record.get("publish", {}).get("state") == COMMITTING:
                log.warning("run %s was interrupted while publishing; completing its publish",
                            record["run_id"])
                _commit(store, record)
        _recovered.add(store.paths.root)


# --- reading --------------------------------------------------------------------------------

def published_versions(store: TableStore, as_of_run: str | None = None) -> dict[str, int]:
    """Table -> version: the current publish, or what it was right after run `as_of_run`."""
    if as_of_run is None:
        current = read_json(store, store.paths.publish_current)
        return current["tables"] if current else {}
    record = read_json(store, store.paths.run_record(as_of_run))
    if not record or "snapshot" not in record:
        raise BadInputError(f"run {as_of_run} published nothing (no {store.paths.run_record(as_of_run)})")
    return record["snapshot"]


def is_published(store: TableStore, published: str) -> bool:
    return store.paths.relative(published) in published_versions(store)


def open_table(store: TableStore, published: str, as_of_run: str | None = None) -> DataFrame:
    """The one way to read a published table: the version the latest publish (or run
    `as_of_run`) left, never a half-published run."""
    recover(store)
    rel = store.paths.relative(published)
    version = published_versions(store, as_of_run).get(rel)
    if version is None:
        raise BadInputError(f"{published}: no published table there; run the step that writes "
                            "it first (python orchestrator.py runs them in order)")
    return store.read_version(published, version)


def read_input(ctx: JobContext, published: str) -> DataFrame:
    """What a downstream step of run `ctx.run_id` reads: the run's own staged version when it
    staged one (Silver only once it passed the gate), else the published version."""
    store = TableStore(ctx.spark, ctx.paths)
    rel = ctx.paths.relative(published)
    info = store.staged_info(published, ctx.run_id)
    if info is None:
        return open_table(store, published)
    if rel.split("/", 1)[0] in GATED_LAYERS:
        check_gate(run_record(store, ctx.run_id), rel, info["version"])
    return store.read_staged(published, ctx.run_id)[0]
