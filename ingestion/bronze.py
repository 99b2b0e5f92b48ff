"""Render the simulated world as Bronze JSONL with injected defects, atomically, plus a manifest.

Each table has its own seeded random stream for defects and variants, separate from the world's,
so writing one table or all three gives the same bytes. Every defective row carries exactly one
defect; the writer counts what Silver must reject (`expected_rejects`), including `duplicate`:
valid rows minus distinct keys among them (re-sends and superseded order versions).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
import re
import shutil
import time
from collections import Counter
from pathlib import Path

from ingestion import defects as D
from ingestion.timestamps import TimestampRenderer
from ingestion.world import (DAY, EPOCH, Catalog, Event, OrderVersion, Payment, build_catalog,
                             day_number, last_day, simulate)
from lakehouse.config import Config
from lakehouse.errors import ConfigError
from lakehouse.contract import BRONZE_TABLES, DEFECT_TYPES, ORDERS, PAYMENTS, TABLES, USER_EVENTS
from lakehouse.localfs import write_text_atomic
from lakehouse.paths import DataPaths, local_path

log = logging.getLogger(__name__)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PartitionedSink:
    """Bronze is append-only: writes the lines of days up to `last_day` into
    `ingest_date=YYYY-MM-DD/part-00000.jsonl`, one partition at a time, and never touches a
    partition that already exists (its bytes are the same anyway: the world is append-only).

    New partitions are written into a hidden temp directory; `commit()` moves each one into
    place with one rename, so a reader (or a killed generator) never sees half a partition.
    Every line still draws its line end from the random stream, written or not, so what a
    later day looks like never depends on what this call writes.
    """

    def __init__(self, table_dir: Path, renderer: TimestampRenderer, crlf_rate: float,
                 rng: random.Random, last_day: int):
        self.table_dir = table_dir
        self.tmp_dir = table_dir.parent / f".{table_dir.name}.tmp-{os.getpid()}"
        self._renderer, self._crlf_rate, self._rng = renderer, crlf_rate, rng
        self.last_day = last_day
        self.existing = {p.name for p in table_dir.glob("ingest_date=*")} if table_dir.is_dir() else set()
        self._files: dict[int, object] = {}
        self._lines: dict[int, int] = {}
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def write(self, day: int, line: str) -> bool:
        """Write `line` to day `day`'s partition; False when the day is past the range."""
        end = "\r\n" if self._rng.random() < self._crlf_rate else "\n"
        if day > self.last_day:
            return False
        handle = self._files.get(day)
        if handle is None:
            handle = self._open(day)
        self._lines[day] += 1
        handle.write(line + end)
        return True

    def _open(self, day: int) -> object:
        """Day `day`'s file, new in the temp directory (or a discard for a partition that
        already exists)."""
        self._lines[day] = 0
        name = self._partition(day)
        if name in self.existing:
            handle = self._files[day] = _DISCARD
        else:
            (self.tmp_dir / name).mkdir(parents=True, exist_ok=True)
            handle = self._files[day] = open(self.tmp_dir / name / "part-00000.jsonl", "w",
                                              encoding="utf-8", newline="", buffering=1 << 20)
        return handle

    def _partition(self, day: int) -> str:
        return f"ingest_date={self._renderer.date_str(day)}"

    @property
    def lines_per_partition(self) -> dict[str, int]:
        return {self._renderer.date_str(d): n for d, n in sorted(self._lines.items())}

    @property
    def new_partitions(self) -> list[str]:
        return sorted(self._partition(d) for d, h in self._files.items() if h is not _DISCARD)

    def commit(self) -> None:
        self._close()
        self.table_dir.mkdir(parents=True, exist_ok=True)
        for name in self.new_partitions:
            os.replace(self.tmp_dir / name, self.table_dir / name)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def abort(self) -> None:
        self._close()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _close(self) -> None:
        for handle in self._files.values():
            handle.close()


class _Discard:
    """Where the lines of an already written partition go."""

    def write(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


_DISCARD = _Discard()


class TableWriter:
    """Shared bookkeeping: defect choice, re-sends, reject counts, the sink."""

    table: str = ""

    def __init__(self, cfg: Config, catalog: Catalog, table_dir: Path, last_day: int):
        self.cfg, self.catalog = cfg, catalog
        g = cfg.generator
        self.rng = random.Random(f"{g.seed}:{self.table}:defects")
        self.ts = TimestampRenderer(self.rng, cfg.variants, g.offset_timestamp_rate)
        self.sink = PartitionedSink(table_dir, self.ts, cfg.variants.crlf_line_end, self.rng,
                                    last_day)
        rates = cfg.defects[self.table]
        self._defect_cum: list[tuple[float, str]] = []
        acc = 0.0
        for name in DEFECT_TYPES[self.table]:
            if name not in rates or (name == "invalid_order_id" and self.table == USER_EVENTS):
                continue  # events: invalid_order_id is a rate among purchase events, drawn apart
            acc += rates[name]
            self._defect_cum.append((acc, name))
        self._defect_total = acc            # a draw at or above it picks no defect
        self._invalid_order_id_rate = rates.get("invalid_order_id", 0.0)
        self._order_id_defect_drawn = False
        self._unseen = [name for _, name in self._defect_cum if rates[name] > 0]
        self._rows = 0
        self.rejects: Counter[str] = Counter()
        self._valid_keys: set = set()
        self.valid_rows = 0

    def pick_defect(self) -> str | None:
        """A defect drawn at the configured rates. Every type with a rate > 0 is guaranteed to
        appear: until each has, every 5th row without a drawn defect takes the next missing one."""
        r = self.rng.random()
        self._rows += 1
        if r >= self._defect_total and not self._unseen:
            return None                     # most rows: no defect, and every type seen
        defect = next((name for threshold, name in self._defect_cum if r < threshold), None)
        if defect is None and self._unseen and self._rows % 5 == 0:
            defect = self._unseen[0]
        if defect in self._unseen:
            self._unseen.remove(defect)
        return defect

    def emit(self, day: int, line: str, defect: str | None, key: object) -> None:
        """Write one line; a `duplicate` defect re-sends the valid line (maybe the next day).
        Only lines inside the range count towards the manifest."""
        written = self.sink.write(day, line)
        if defect is not None and defect != "duplicate":
            if written:
                self.rejects[defect] += 1
            return
        if written:
            self._count_valid(key)
        if defect == "duplicate":
            resend_day = day + 1 if self.rng.random() < 0.3 else day
            if self.sink.write(resend_day, line):
                self._count_valid(key)

    def write_pairs(self, day: int, pairs: D.Pairs, defect: str | None, key: object, fact) -> None:
        """Apply the row's defect (if any), render and emit it."""
        if defect not in (None, "duplicate", "malformed_json"):
            pairs = self._defect(defect, pairs, fact)
        line = D.render(pairs)
        if defect == "malformed_json":
            line = D.malformed_json(self.rng, line)
        self.emit(day, line, defect, key)

    def _defect(self, defect: str, pairs: D.Pairs, fact) -> D.Pairs:
        raise NotImplementedError

    def _count_valid(self, key: object) -> None:
        self.valid_rows += 1
        self._valid_keys.add(key)

    def expected_rejects(self) -> dict[str, int]:
        rejects = Counter(self.rejects)
        duplicates = self.valid_rows - len(self._valid_keys)
        if duplicates:
            rejects["duplicate"] = duplicates
        return dict(sorted(rejects.items()))

    def manifest_entry(self) -> dict:
        lines = sum(self.sink.lines_per_partition.values())
        rejects = self.expected_rejects()
        return {
            "lines": lines,
            "lines_per_partition": self.sink.lines_per_partition,
            "expected_rejects": rejects,
            "expected_silver_rows": lines - sum(rejects.values()),
        }

    def common_defect(self, defect: str, pairs: D.Pairs, ts_fields: tuple[str, ...]) -> D.Pairs:
        if defect == "missing_required_field":
            return D.missing_field(self.rng, pairs, TABLES[self.table].required)
        if defect == "invalid_timestamp":
            return D.invalid_timestamp(self.rng, pairs, ts_fields)
        if defect == "invalid_currency":
            return D.set_token(pairs, "currency", D.s(self.rng.choice(["XYZ", "BTC", "US$", "EURO"])))
        if defect == "invalid_order_id":
            order_id = int(json.loads(D.get_token(pairs, "order_id")))
            return D.set_token(pairs, "order_id", D.invalid_integer_token(self.rng, order_id))
        return pairs

    def finish(self) -> dict:
        self.sink.commit()
        return self.manifest_entry()


class EventsWriter(TableWriter):
    table = USER_EVENTS

    def __init__(self, cfg: Config, catalog: Catalog, table_dir: Path, last_day: int):
        super().__init__(cfg, catalog, table_dir, last_day)
        cat = catalog
        # The parts of a line that only depend on the product or on the user, rendered once.
        self._product_part = [
            f'"product_id":"{pid}","category":"{category}","price":{price}'
            for pid, category, price in zip(cat.product_ids, cat.product_category,
                                            cat.product_price_usd, strict=True)]
        self._user_tail = [
            f',"ip_address":"{ip}","user_agent":{cat.user_agent_tokens[agent]}}}'
            for ip, agent in zip(cat.user_ips, cat.user_agent_of, strict=True)]

    def add(self, e: Event) -> None:
        rng, cat, v = self.rng, self.catalog, self.cfg.variants
        defect = self.pick_defect()
        if defect is None and e.event_type == "purchase":
            draw = rng.random() < self._invalid_order_id_rate
            if draw or (self._invalid_order_id_rate > 0 and not self._order_id_defect_drawn):
                defect = "invalid_order_id"
                self._order_id_defect_drawn = True
        event_type, device, source = f'"{e.event_type}"', f'"{e.device}"', f'"{e.source}"'
        if rng.random() < v.enum_case:
            which = int(rng.random() * 3)
            if which == 0:
                event_type = D.token(D.enum_case(rng, e.event_type))
            elif which == 1:
                device = D.token(D.enum_case(rng, e.device))
            else:
                source = D.token(D.enum_case(rng, e.source))
        order_id = ""
        if e.order_id is not None:
            order_id = f',"order_id":"{e.order_id}"' if rng.random() < 0.5 else f',"order_id":{e.order_id}'
        # Optional dimensions left blank (not on rows whose defect is about a dimension).
        blank_optional = rng.random() < v.blank_optional and defect in (None, "duplicate")
        # The hot path renders the line directly; D.render() gives the same bytes for the
        # rows a defect or variant rewrites.
        line = (f'{{"event_id":"{e.event_id}","user_id":"{cat.user_ids[e.user]}",'
                f'"session_id":"{e.session_id}","event_type":{event_type},'
                f'"event_ts":"{self.ts.render(e.t)}",{self._product_part[e.product]},'
                f'"device":{device},"source":{source}{order_id}{self._user_tail[e.user]}')
        if blank_optional or defect not in (None, "duplicate", "malformed_json"):
            pairs = D.parse_pairs(line)
            if blank_optional:
                pairs = D.set_token(pairs, rng.choice(["device", "source"]),
                                    rng.choice([None, "null", '""']))
            if defect not in (None, "duplicate", "malformed_json"):
                pairs = self._defect(defect, pairs, e)
            line = D.render(pairs)
        elif defect == "malformed_json":
            line = D.malformed_json(rng, line)
        day = e.t // DAY + (1 if e.late else 0)
        self.emit(day, line, defect, e.event_id)

    def _defect(self, defect: str, pairs: D.Pairs, e: Event) -> D.Pairs:
        rng = self.rng
        if defect == "invalid_event_type":
            return D.set_token(pairs, "event_type",
                               D.s(rng.choice(["click", "purchased", "wishlist", "page_view"])))
        if defect == "invalid_dimension":
            if rng.random() < 0.5:
                return D.set_token(pairs, "device", D.s(rng.choice(["smart_tv", "watch", "console"])))
            return D.set_token(pairs, "source", D.s(rng.choice(["tiktok", "billboard", "affiliate"])))
        if defect == "invalid_order_id":
            order_id = int(json.loads(D.get_token(pairs, "order_id")))
            token = rng.choice([D.invalid_integer_token(rng, order_id), None, "null", '""'])
            return D.set_token(pairs, "order_id", token)
        return self.common_defect(defect, pairs, ("event_ts",))


class OrdersWriter(TableWriter):
    table = ORDERS

    def add(self, o: OrderVersion) -> None:
        rng, cat, v = self.rng, self.catalog, self.cfg.variants
        defect = self.pick_defect()
        numeric_string = rng.random() < v.numeric_string
        status, currency = o.status, o.currency
        if rng.random() < v.enum_case:
            if rng.random() < 0.5:
                status = D.enum_case(rng, status)
            else:
                currency = D.currency_case(rng, currency)
        total = o.total
        if rng.random() < v.cent_rounding:
            total += D.Decimal("0.01")              # off by exactly one cent: still valid
        pairs = [
            ("order_id", f'"{o.order_id}"' if numeric_string else str(o.order_id)),
            ("user_id", f'"{cat.user_ids[o.user]}"'),
            ("order_ts", f'"{self.ts.render(o.order_t)}"'),
            ("updated_at", f'"{self.ts.render(o.updated_t)}"'),
            ("product_id", f'"{cat.product_ids[o.product]}"'),
            ("category", f'"{cat.product_category[o.product]}"'),
            ("price", f'"{o.price}"' if numeric_string else D.money(o.price)),
            ("quantity", f'"{o.quantity}"' if numeric_string else str(o.quantity)),
            ("total_amount", D.money(total)),
            ("currency", D.token(currency)), ("status", D.token(status)),
        ]
        self.write_pairs(o.updated_t // DAY, pairs, defect, o.order_id, o)

    def _defect(self, defect: str, pairs: D.Pairs, o: OrderVersion) -> D.Pairs:
        rng = self.rng
        if defect == "invalid_status":
            return D.set_token(pairs, "status", D.s(rng.choice(["lost", "pending_review", "on_hold"])))
        if defect == "invalid_quantity":
            return D.set_token(pairs, "quantity", rng.choice(["0", "-1", '"2.0"', "1.5", '"two"']))
        if defect == "invalid_price":
            return D.set_token(pairs, "price", rng.choice(["0", f"-{o.price}", '"free"', "0.00"]))
        if defect == "amount_mismatch":
            total = o.total
            return D.set_token(pairs, "total_amount", rng.choice([
                D.money(total + D.Decimal("0.02")), D.money(total + 1), D.money(total * 2),
                '"N/A"']))
        return self.common_defect(defect, pairs, ("order_ts", "updated_at"))


class PaymentsWriter(TableWriter):
    table = PAYMENTS

    def add(self, p: Payment) -> None:
        rng, v = self.rng, self.cfg.variants
        defect = self.pick_defect()
        status, method, currency = p.status, p.method, p.currency
        if rng.random() < v.enum_case:
            which = rng.randrange(3)
            if which == 0:
                status = D.enum_case(rng, status)
            elif which == 1:
                method = D.enum_case(rng, method)   # "PayPal"-like spellings: "Paypal", "Bank Transfer"
            else:
                currency = D.currency_case(rng, currency)
        numeric_string = rng.random() < v.numeric_string
        pairs = [
            ("payment_id", f'"{p.payment_id}"'),
            ("order_id", f'"{p.order_id}"' if numeric_string else str(p.order_id)),
            ("payment_ts", f'"{self.ts.render(p.t)}"'),
            ("method", D.token(method)), ("status", D.token(status)),
            ("amount", f'"{p.amount}"' if numeric_string else D.money(p.amount)),
            ("currency", D.token(currency)),
        ]
        self.write_pairs(p.t // DAY, pairs, defect, p.payment_id, p)

    def _defect(self, defect: str, pairs: D.Pairs, p: Payment) -> D.Pairs:
        rng = self.rng
        if defect == "invalid_status":
            return D.set_token(pairs, "status", D.s(rng.choice(["pending", "chargeback", "void"])))
        if defect == "invalid_method":
            return D.set_token(pairs, "method", D.s(rng.choice(["crypto", "cash", "cheque"])))
        if defect == "invalid_amount_sign":
            return D.set_token(pairs, "amount", rng.choice([D.money(-p.amount), "0", '"abc"']))
        return self.common_defect(defect, pairs, ("payment_ts",))


WRITERS: dict[str, type[TableWriter]] = {
    USER_EVENTS: EventsWriter, ORDERS: OrdersWriter, PAYMENTS: PaymentsWriter,
}


def generate(cfg: Config, paths: DataPaths, tables: tuple[str, ...] = BRONZE_TABLES,
             through: dt.date | None = None) -> dict:
    """Simulate the world from `generator.start_date` through `through` (default: the
    configured `days`) and write the requested Bronze tables' missing partitions and the
    manifest. Existing partitions are never rewritten or deleted.

    The range is extended to the latest partition already present, so the manifest always
    describes all the Bronze there is. Returns the manifest.
    """
    unknown = [t for t in tables if t not in WRITERS]
    if unknown:
        raise ValueError(f"unknown Bronze table(s) {unknown}; expected some of {list(WRITERS)}")
    first = day_number(cfg.generator.start_date)
    requested = last_day(cfg) if through is None else day_number(through)
    if requested < first:
        raise ConfigError(f"--through {through}: before generator.start_date "
                          f"{cfg.generator.start_date}; nothing to generate")
    dirs = {t: Path(local_path(paths.bronze(t))) for t in tables}
    present = [day_number(dt.date.fromisoformat(p.name.split("=", 1)[1]))
               for d in dirs.values() if d.is_dir() for p in d.glob("ingest_date=*")
               if _DATE.match(p.name.split("=", 1)[1])]
    if present and min(present) < first:
        log.warning("Bronze has partitions before generator.start_date %s; the manifest does not "
                    "describe them", cfg.generator.start_date)
    final = max([requested, *present])
    started = time.perf_counter()
    catalog = build_catalog(cfg)
    writers = {t: WRITERS[t](cfg, catalog, dirs[t], final) for t in tables}
    events, orders, payments = (writers.get(USER_EVENTS), writers.get(ORDERS), writers.get(PAYMENTS))
    try:
        for facts in simulate(cfg, catalog, final):
            if events:
                for e in facts.events:
                    events.add(e)
            if orders:
                for o in facts.orders:
                    orders.add(o)
            if payments:
                for p in facts.payments:
                    payments.add(p)
    except BaseException:
        for w in writers.values():
            w.sink.abort()
        raise
    new = {t: w.sink.new_partitions for t, w in writers.items()}
    entries = {t: w.finish() for t, w in writers.items()}
    manifest = _update_manifest(cfg, paths, entries, EPOCH + dt.timedelta(days=final))
    elapsed = time.perf_counter() - started
    for t, entry in entries.items():
        log.info("bronze %s: %d new partition(s) %s; %d lines in all, expected rejects %s", t,
                 len(new[t]), ", ".join(n.split("=")[1] for n in new[t]) or "-", entry["lines"],
                 entry["expected_rejects"])
    log.info("generated %s through %s in %.2fs", ", ".join(tables),
             EPOCH + dt.timedelta(days=final), elapsed)
    return manifest


def _update_manifest(cfg: Config, paths: DataPaths, entries: dict[str, dict],
                     through: dt.date) -> dict:
    """Merge this run's tables into bronze/_manifest.json (written atomically, no timestamps, so
    the same config gives the same bytes)."""
    path = Path(local_path(paths.bronze_manifest))
    manifest = {"tables": {}}
    if path.exists():
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("%s is unreadable; rewriting it", path)
    g = cfg.generator
    for table, entry in entries.items():
        manifest.setdefault("tables", {})[table] = {
            "seed": g.seed, "start_date": g.start_date.isoformat(),
            "through": through.isoformat(), **entry}
    manifest["tables"] = dict(sorted(manifest["tables"].items()))
    write_text_atomic(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
