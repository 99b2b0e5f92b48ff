"""One seeded simulated world: users browse in sessions, some buy, orders move through their
lifecycle, payments fail and succeed, returns are refunded.

The simulation only produces *clean* facts; ingestion/bronze.py renders them as JSONL and
injects defects. Everything is driven by one `random.Random` seeded from the config, so the
same config gives the same world whichever table is being written.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from faker import Faker

from lakehouse.config import Config

EPOCH = dt.date(1970, 1, 1)
DAY = 86_400
CATEGORIES = ("electronics", "fashion", "home", "beauty", "sports", "books", "toys", "grocery")
CENT = Decimal("0.01")


@dataclass(slots=True)
class Event:
    t: int                 # UTC epoch seconds
    event_id: str
    user: int
    session_id: str
    event_type: str
    product: int
    device: str
    source: str
    order_id: int | None
    late: bool             # arrives in the next day's ingest partition


@dataclass(slots=True)
class OrderVersion:
    order_id: int
    user: int
    order_t: int
    updated_t: int
    product: int
    price: Decimal         # unit price in `currency`
    quantity: int
    currency: str
    status: str

    @property
    def total(self) -> Decimal:
        return self.price * self.quantity


@dataclass(slots=True)
class Payment:
    payment_id: str
    order_id: int
    t: int
    method: str
    status: str
    amount: Decimal        # negative for refunds
    currency: str


@dataclass(slots=True)
class SessionFacts:
    events: list[Event] = field(default_factory=list)
    orders: list[OrderVersion] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)


@dataclass(frozen=True)
class Catalog:
    """Pools built once from a seeded Faker, so the hot loop never calls Faker."""
    user_ids: list[str]
    user_ips: list[str]
    user_agents: list[str]
    user_agent_tokens: list[str]      # the same, JSON-encoded once
    user_agent_of: list[int]
    user_currency: list[str]
    user_device: list[str]
    product_ids: list[str]
    product_category: list[str]
    product_price_usd: list[Decimal]


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def uuid_hex(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def _randint(rng: random.Random, low: int, high: int) -> int:
    """`rng.randint` at a fraction of its cost (the hot loop draws millions of these)."""
    return low + int(rng.random() * (high - low + 1))


def _weighted(mix: dict[str, float]) -> tuple[list[str], list[float]]:
    names = list(mix)
    total, acc, cum = sum(mix.values()), 0.0, []
    for n in names:
        acc += mix[n] / total
        cum.append(acc)
    cum[-1] = 1.0
    return names, cum


def _pick(rng: random.Random, choice: tuple[list[str], list[float]]) -> str:
    names, cum = choice
    r = rng.random()
    for name, c in zip(names, cum, strict=True):
        if r < c:
            return name
    return names[-1]


def build_catalog(cfg: Config) -> Catalog:
    g = cfg.generator
    fake = Faker()
    fake.seed_instance(g.seed)
    rng = random.Random(f"{g.seed}:catalog")
    agents = [fake.user_agent() for _ in range(min(200, g.users))]
    currency = _weighted(g.currency_mix)
    device = _weighted(g.device_mix)
    prices = []
    for _ in range(g.products):
        usd = min(max(math.exp(rng.gauss(3.4, 0.9)), 2.0), 1500.0)
        prices.append(Decimal(int(usd)) + Decimal("0.99"))
    return Catalog(
        user_ids=[f"u{i:07d}" for i in range(g.users)],
        user_ips=[fake.ipv4_public() for _ in range(g.users)],
        user_agents=agents,
        user_agent_tokens=[json.dumps(a) for a in agents],
        user_agent_of=[int(rng.random() * len(agents)) for _ in range(g.users)],
        user_currency=[_pick(rng, currency) for _ in range(g.users)],
        user_device=[_pick(rng, device) for _ in range(g.users)],
        product_ids=[f"P{i:05d}" for i in range(g.products)],
        product_category=[rng.choice(CATEGORIES) for _ in range(g.products)],
        product_price_usd=prices,
    )


def local_price(usd: Decimal, rate: Decimal) -> Decimal:
    return (usd / rate).quantize(CENT, rounding=ROUND_HALF_UP)


def last_day(cfg: Config) -> int:
    """The default range's last day: `generator.start_date` + `generator.days` - 1."""
    return day_number(cfg.generator.start_date) + cfg.generator.days - 1


def simulate(cfg: Config, catalog: Catalog, through: int | None = None) -> Iterator[SessionFacts]:
    """Yield the clean facts of every session from `start_date` through day number `through`
    (default: the configured range), day by day, in a deterministic order.

    The world is append-only: nothing about day D depends on where the range ends. A session's
    facts include what happens after it (later order versions, refunds, late events), whatever
    day that is; the writer keeps what falls inside the range, and the rest is simply written
    by a later call that reaches its day.
    """
    world = _World(cfg, catalog)
    stop = (last_day(cfg) if through is None else through) + 1
    for day in range(day_number(cfg.generator.start_date), stop):
        for _ in range(int(cfg.generator.sessions_per_day * world.rng.uniform(0.9, 1.1))):
            yield world.session(day)


@dataclass(slots=True)
class _Session:
    facts: SessionFacts
    user: int
    sid: str
    device: str
    source: str
    t: int


class _World:
    """The simulation's state: one random stream and the order-id sequence."""

    def __init__(self, cfg: Config, catalog: Catalog):
        g = self.g = cfg.generator
        self.cfg, self.catalog = cfg, catalog
        self.rng = random.Random(f"{g.seed}:world")
        self.sources, self.methods = _weighted(g.source_mix), _weighted(g.method_mix)
        self.devices = _weighted(g.device_mix)
        self.next_order_id = 100_001

    def session(self, day: int) -> SessionFacts:
        g, rng = self.g, self.rng
        user = int(rng.random() * g.users)
        device = self.catalog.user_device[user] if rng.random() < 0.8 else _pick(rng, self.devices)
        src = _pick(rng, self.sources)
        sid = f"s{rng.getrandbits(64):016x}"
        s = _Session(SessionFacts(), user, sid, device, src, day * DAY + int(rng.random() * DAY))
        viewed = [int(rng.random() * g.products) for _ in range(_randint(rng, 1, g.max_views_per_session))]
        for product in viewed:
            self._emit(s, "view", product)
        if rng.random() < g.funnel.add_to_cart:
            product = rng.choice(viewed)
            self._emit(s, "add_to_cart", product)
            if rng.random() < g.funnel.checkout:
                self._emit(s, "checkout", product)
                if rng.random() < g.funnel.purchase:
                    self._emit(s, "purchase", product, self.next_order_id)
                    _order_lifecycle(self.cfg, self.catalog, rng, self.methods, s.facts,
                                     self.next_order_id, user, product, s.t + 2)
                    self.next_order_id += 1
        return s.facts

    def _emit(self, s: _Session, event_type: str, product: int, order_id: int | None = None) -> None:
        rng = self.rng
        s.t += _randint(rng, 5, 180)
        late = rng.random() < self.g.late_event_rate
        s.facts.events.append(Event(s.t, uuid_hex(rng), s.user, s.sid, event_type, product,
                                    s.device, s.source, order_id, late))


def _order_lifecycle(cfg: Config, catalog: Catalog, rng: random.Random,
                     method_mix: tuple[list[str], list[float]], facts: SessionFacts,
                     order_id: int, user: int, product: int, order_t: int) -> None:
    """Order versions on each status change and the payments around them."""
    g = cfg.generator
    currency = catalog.user_currency[user]
    price = local_price(catalog.product_price_usd[product], cfg.fx_rates_to_usd[currency])
    quantity = _randint(rng, 1, g.max_quantity)
    method = _pick(rng, method_mix)

    def version(status: str, at: int) -> None:
        facts.orders.append(OrderVersion(order_id, user, order_t, at, product, price, quantity,
                                         currency, status))

    def pay(status: str, at: int, amount: Decimal) -> None:
        facts.payments.append(Payment(uuid_hex(rng), order_id, at, method, status, amount, currency))

    total = price * quantity
    version("placed", order_t)
    at, paid = order_t, False
    for _ in range(3):
        at += _randint(rng, 20, 300)
        if rng.random() < g.payment_failure_rate:
            pay("failed", at, total)
        else:
            pay("success", at, total)
            paid = True
            break
    if not paid:
        version("cancelled", at + 3600)
        return
    if rng.random() < g.cancel_rate:
        cancelled = at + _randint(rng, 1, 20) * 3600
        version("cancelled", cancelled)
        pay("refunded", cancelled + _randint(rng, 1, 24) * 3600, -total)
        return
    shipped = at + _randint(rng, 1, 2) * DAY + int(rng.random() * DAY // 2)
    delivered = shipped + _randint(rng, 2, 4) * DAY + int(rng.random() * DAY // 2)
    version("shipped", shipped)
    version("delivered", delivered)
    if rng.random() < g.return_rate:
        returned = delivered + _randint(rng, 2, 7) * DAY
        version("returned", returned)
        pay("refunded", returned + _randint(rng, 1, 3) * DAY, -total)
