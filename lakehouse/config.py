"""Typed, validated configuration loaded from config.yaml plus a profile.

Every section is a frozen dataclass. Loading checks unknown keys, types and ranges and raises
one ConfigError that names the key, the expected value and what was found, so a person can fix
the file without reading a traceback.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import re

import yaml

from lakehouse.contract import DEFECT_TYPES
from lakehouse.errors import ConfigError

__all__ = ["ClusterConfig", "Config", "ConfigError", "Enums", "Paths", "SparkConfig", "load_config",
           "check_master"]

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.yaml"

# Field metadata markers for range checks.
RATE = {"check": "rate"}          # float in [0, 1]
NONNEG = {"check": "nonneg"}      # number >= 0
POSITIVE = {"check": "positive"}  # number >= 1 (ints) / > 0 (floats)
MEMORY = {"check": "memory"}      # a JVM memory size: 512m, 2g
MASTER = {"check": "master"}      # a Spark master URL
PORT = {"check": "port"}          # a TCP port, 1-65535

_MEMORY_SIZE = re.compile(r"^[1-9][0-9]*[kmgt]?$", re.IGNORECASE)
_MASTER_URL = re.compile(r"^(local(\[([1-9][0-9]*|\*)(,[1-9][0-9]*)?\])?|yarn|"
                         r"(spark|k8s|mesos)://\S+)$")

# Environment variables that override a setting: name -> (section, key). Validated like the file.
ENV_OVERRIDES = {
    "PIPELINE_MAX_RETRIES": ("orchestrator", "max_retries"),
    "PIPELINE_BACKOFF_SECONDS": ("orchestrator", "backoff_base_seconds"),
    "PIPELINE_MAX_PARALLEL_STEPS": ("orchestrator", "max_parallel_steps"),
}


@dataclass(frozen=True)
class Funnel:
    add_to_cart: float = field(metadata=RATE)
    checkout: float = field(metadata=RATE)
    purchase: float = field(metadata=RATE)


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int
    start_date: dt.date
    days: int = field(metadata=POSITIVE)
    users: int = field(metadata=POSITIVE)
    sessions_per_day: int = field(metadata=POSITIVE)
    products: int = field(metadata=POSITIVE)
    max_views_per_session: int = field(metadata=POSITIVE)
    funnel: Funnel
    late_event_rate: float = field(metadata=RATE)
    offset_timestamp_rate: float = field(metadata=RATE)
    device_mix: dict[str, float]
    source_mix: dict[str, float]
    currency_mix: dict[str, float]
    method_mix: dict[str, float]
    max_quantity: int = field(metadata=POSITIVE)
    payment_failure_rate: float = field(metadata=RATE)
    cancel_rate: float = field(metadata=RATE)
    return_rate: float = field(metadata=RATE)


@dataclass(frozen=True)
class Variants:
    enum_case: float = field(metadata=RATE)
    numeric_string: float = field(metadata=RATE)
    fraction_seconds: float = field(metadata=RATE)
    space_separator: float = field(metadata=RATE)
    crlf_line_end: float = field(metadata=RATE)
    blank_optional: float = field(metadata=RATE)
    cent_rounding: float = field(metadata=RATE)


@dataclass(frozen=True)
class Enums:
    event_type: list[str]
    device: list[str]
    source: list[str]
    order_status: list[str]
    payment_status: list[str]
    method: list[str]
    currency: list[str]


@dataclass(frozen=True)
class Paths:
    bronze: str
    silver: str
    quarantine: str
    gold: str
    dq: str
    lineage: str
    staging: str
    publish: str
    reports: str


@dataclass(frozen=True)
class SparkConfig:
    master: str = field(metadata=MASTER)
    app_name: str
    shuffle_partitions: int = field(metadata=POSITIVE)
    driver_memory: str = field(metadata=MEMORY)
    jar_cache: str                   # where Delta Lake's jars are resolved to, once per machine
    class_archive_dir: str           # where the driver JVM's class archive (CDS) is kept ("" = off)
    merge_jars: bool                 # start the driver JVM on pyspark's jars merged into one
    event_log_dir: str               # Spark event logs for the History Server ("" = off)
    conf: dict[str, str]


@dataclass(frozen=True)
class ClusterConfig:
    """The local standalone cluster of `python -m orchestration.cluster` (docs/cluster.md)."""
    host: str
    master_port: int = field(metadata=PORT)
    master_ui_port: int = field(metadata=PORT)
    worker_ui_port: int = field(metadata=PORT)
    history_ui_port: int = field(metadata=PORT)
    worker_cores: int = field(metadata=POSITIVE)
    worker_memory: str = field(metadata=MEMORY)
    state_dir: str                   # pid files, daemon logs and the worker's work dir

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.master_port}"


@dataclass(frozen=True)
class OrchestratorConfig:
    max_retries: int = field(metadata=NONNEG)
    backoff_base_seconds: float = field(metadata=NONNEG)
    backoff_max_seconds: float = field(metadata=NONNEG)
    max_parallel_steps: int = field(metadata=POSITIVE)
    log_dir: str
    progress_seconds: float = field(metadata=NONNEG)
    report: bool


@dataclass(frozen=True)
class DQConfig:
    max_reject_rate: float = field(metadata=RATE)
    volume_tolerance: float = field(metadata=NONNEG)


@dataclass(frozen=True)
class FeaturesConfig:
    high_value_threshold_usd: float = field(metadata=NONNEG)


@dataclass(frozen=True)
class IncrementalConfig:
    gold_in_full_below_lines: int = field(metadata=NONNEG)   # 0: Gold always from the changes


@dataclass(frozen=True)
class PiiConfig:
    salt_env_var: str
    default_salt: str


@dataclass(frozen=True)
class Config:
    generator: GeneratorConfig
    defects: dict[str, dict[str, float]]
    variants: Variants
    enums: Enums
    fx_rates_to_usd: dict[str, Decimal]
    paths: Paths
    spark: SparkConfig
    cluster: ClusterConfig
    orchestrator: OrchestratorConfig
    dq: DQConfig
    features: FeaturesConfig
    incremental: IncrementalConfig
    pii: PiiConfig
    # Not from the file: where it came from, for logs and the run manifest.
    profile: str = field(default="default", metadata={"from_file": False})
    source: str = field(default="", metadata={"from_file": False})

    @property
    def pii_salt(self) -> str:
        return os.environ.get(self.pii.salt_env_var, self.pii.default_salt)

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    def digest(self) -> str:
        """SHA-256 of the resolved settings: two runs with the same digest used the same config."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check and convert one YAML value to the annotated type, or raise ConfigError."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {_describe(value)}")
        return {_coerce(k, key_tp, f"{key}.{k}"): _coerce(v, val_tp, f"{key}.{k}")
                for k, v in value.items()}
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{key}: expected a non-empty list, got {_describe(value)}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {_describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {_describe(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {_describe(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {_describe(value)}")
        return str(value)
    if tp is Decimal:
        try:
            if isinstance(value, bool):
                raise InvalidOperation
            return Decimal(str(value))
        except InvalidOperation:
            raise ConfigError(f"{key}: expected a decimal number, got {_describe(value)}") from None
    if tp is dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{key}: expected a date YYYY-MM-DD, got {_describe(value)}") from None
    raise ConfigError(f"{key}: unsupported type {tp}")  # pragma: no cover - programming error


def _check_range(value: Any, meta: dict[str, str], key: str) -> None:
    check = meta.get("check")
    if check == "rate" and not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key}: expected a rate between 0 and 1, got {value!r}")
    if check == "nonneg" and value < 0:
        raise ConfigError(f"{key}: expected a value >= 0, got {value!r}")
    if check == "positive" and (value < 1 if isinstance(value, int) else value <= 0):
        raise ConfigError(f"{key}: expected a positive value, got {value!r}")
    if check == "memory" and not _MEMORY_SIZE.match(value):
        raise ConfigError(f"{key}: expected a memory size such as 512m or 2g, got {value!r}")
    if check == "port" and not 1 <= value <= 65535:
        raise ConfigError(f"{key}: expected a TCP port between 1 and 65535, got {value!r}")
    if check == "master" and not _MASTER_URL.match(value):
        raise ConfigError(f"{key}: expected a Spark master URL (local[N], spark://HOST:PORT, "
                          f"yarn, k8s://URL), got {value!r}")


def check_master(url: str, flag: str = "--master") -> str:
    """`url` if it is a Spark master URL, else a ConfigError naming `flag`."""
    _check_range(url, MASTER, flag)
    return url


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("from_file", True)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"{where}{unknown[0]}: unknown key (expected one of: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            raise ConfigError(f"{key}: missing required key")
        value = _coerce(data[name], hints[name], key)
        _check_range(value, dict(f.metadata), key)
        kwargs[name] = value
    return cls(**kwargs)


def _deep_merge(base: dict, override: dict, prefix: str = "") -> dict:
    merged = dict(base)
    for key, value in override.items():
        where = f"{prefix}.{key}" if prefix else key
        if key not in base:
            raise ConfigError(f"{where}: unknown key")
        if isinstance(value, dict) and isinstance(base[key], dict) and key not in ("conf",):
            merged[key] = _deep_merge(base[key], value, where)
        else:
            merged[key] = value
    return merged


def _validate_semantics(cfg: Config) -> None:
    """Cross-field rules: mixes name enum values, rates cover currencies, defects are known."""
    e, g = cfg.enums, cfg.generator
    for mix_name, enum_name in (("device_mix", "device"), ("source_mix", "source"),
                                ("currency_mix", "currency"), ("method_mix", "method")):
        mix: dict[str, float] = getattr(g, mix_name)
        allowed = getattr(e, enum_name)
        for k, v in mix.items():
            if k not in allowed:
                raise ConfigError(f"generator.{mix_name}.{k}: not in enums.{enum_name} {allowed}")
            if v < 0:
                raise ConfigError(f"generator.{mix_name}.{k}: expected a weight >= 0, got {v!r}")
        if sum(mix.values()) <= 0:
            raise ConfigError(f"generator.{mix_name}: expected at least one positive weight")
    for cur in e.currency:
        if cur not in cfg.fx_rates_to_usd:
            raise ConfigError(f"fx_rates_to_usd.{cur}: missing rate for a currency in enums.currency")
        if cfg.fx_rates_to_usd[cur] <= 0:
            raise ConfigError(f"fx_rates_to_usd.{cur}: expected a rate > 0")
    for table, types_ in DEFECT_TYPES.items():
        rates = cfg.defects.get(table)
        if rates is None:
            raise ConfigError(f"defects.{table}: missing (expected rates for {', '.join(types_)})")
        for name, rate in rates.items():
            if name not in types_:
                raise ConfigError(f"defects.{table}.{name}: unknown defect type "
                                  f"(expected one of: {', '.join(types_)})")
            _check_range(rate, RATE, f"defects.{table}.{name}")
        total = sum(v for k, v in rates.items() if k != "invalid_order_id")
        if total > 0.5:
            raise ConfigError(f"defects.{table}: rates sum to {total:.3f}; expected at most 0.5")
    for table in cfg.defects:
        if table not in DEFECT_TYPES:
            raise ConfigError(f"defects.{table}: unknown table (expected one of: "
                              f"{', '.join(DEFECT_TYPES)})")


def load_config(path: str | Path | None = None, profile: str = "default") -> Config:
    """Load config.yaml, apply a profile and validate everything; raise ConfigError on any problem."""
    path = Path(path) if path else DEFAULT_CONFIG_PATH
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (pass --config PATH)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    profiles = raw.pop("profiles", {}) or {}
    if not isinstance(profiles, dict):
        raise ConfigError("profiles: expected a mapping of profile name -> overrides")
    if profile != "default" and profile not in profiles:
        known = ", ".join(sorted(set(profiles) | {"default"}))
        raise ConfigError(f"--profile {profile}: unknown profile (expected one of: {known})")
    base = raw
    if profile != "default" or profile in profiles:
        raw = _deep_merge(raw, profiles[profile] or {}, f"profiles.{profile}")
    _validate_semantics(_build(Config, base, ""))   # the base section must hold on its own too
    cfg = _build(Config, _env_overrides(raw, os.environ), "")
    _validate_semantics(cfg)
    return dataclasses.replace(cfg, profile=profile, source=str(path))


def _env_overrides(raw: dict, environ) -> dict:
    """`raw` with the ENV_OVERRIDES that are set applied; each value parsed as YAML, so it is
    checked exactly like the same value in the file (an error names the variable)."""
    merged = dict(raw)
    for var, (section, key) in ENV_OVERRIDES.items():
        if var not in environ:
            continue
        try:
            value = yaml.safe_load(environ[var])
        except yaml.YAMLError:
            value = environ[var]
        merged[section] = {**merged.get(section, {}), key: value}
        try:
            _build(Config, merged, "")
        except ConfigError as exc:
            if str(exc).startswith(f"{section}.{key}:"):
                raise ConfigError(f"env {var}={environ[var]!r}: {str(exc).split(': ', 1)[1]}") from None
            raise
    return merged
