"""Config loading: every profile loads; every kind of mistake is one clear message and exit 2."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import psutil
import pytest

from ingestion.cli import main as generate_main
from lakehouse.config import ConfigError, load_config

from conftest import write_config

REPO = Path(__file__).resolve().parent.parent


def test_profiles_load_with_their_overrides():
    tiny = load_config(profile="tiny")
    default = load_config(profile="default")
    assert (tiny.generator.days, tiny.generator.users) == (3, 80)
    assert (default.generator.days, default.generator.sessions_per_day) == (30, 2400)
    assert tiny.defects["orders"]["invalid_price"] == 0.025
    assert tiny.defects["orders"]["duplicate"] == 0.03
    assert default.fx_rates_to_usd["GBP"] == Decimal("1.270000")
    assert tiny.digest() != default.digest()


@pytest.mark.parametrize("profile, c1_only, serial_gc", [
    ("tiny", True, True), ("small", True, True), ("default", True, True), ("medium", False, True),
    ("large", False, False)])
def test_every_profile_jit_compiles_huge_methods(profile, c1_only, serial_gc):
    """The Silver jobs' generated code is over HotSpot's huge-method limit: without
    -XX:-DontCompileHugeMethods it runs interpreted (medium: 0.91 of the wall time with it).
    Runs of a minute or so keep the C1-only JIT; medium and large the full JIT."""
    conf = load_config(profile=profile).spark.conf
    for side in ("driver", "executor"):
        options = conf[f"spark.{side}.extraJavaOptions"].split()
        assert "-XX:-DontCompileHugeMethods" in options
        assert ("-XX:TieredStopAtLevel=1" in options) is c1_only
    # the serial garbage collector in the driver up to medium (at large it was slower: G1 there)
    assert ("-XX:+UseSerialGC" in conf["spark.driver.extraJavaOptions"].split()) is serial_gc
    assert "-XX:+UseSerialGC" not in conf["spark.executor.extraJavaOptions"]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["generator"].update(colour="blue"),
     "generator.colour: unknown key"),
    (lambda d: d["generator"].update(days="thirty"),
     "generator.days: expected an integer, got 'thirty' (str)"),
    (lambda d: d["defects"]["orders"].update(invalid_price=1.5),
     "defects.orders.invalid_price: expected a rate between 0 and 1, got 1.5"),
    (lambda d: d["generator"]["funnel"].update(checkout=-0.1),
     "generator.funnel.checkout: expected a rate between 0 and 1, got -0.1"),
    (lambda d: d["generator"].update(users=-5),
     "generator.users: expected a positive value, got -5"),
    (lambda d: d["orchestrator"].update(max_retries=-1),
     "orchestrator.max_retries: expected a value >= 0, got -1"),
    (lambda d: d["generator"].update(start_date="2026-13-01"),
     "generator.start_date: expected a date YYYY-MM-DD, got '2026-13-01' (str)"),
    (lambda d: d["fx_rates_to_usd"].pop("INR"),
     "fx_rates_to_usd.INR: missing rate for a currency in enums.currency"),
    (lambda d: d["generator"]["device_mix"].update(smart_tv=0.1),
     "generator.device_mix.smart_tv: not in enums.device"),
    (lambda d: d["defects"]["payments"].update(invalid_quantity=0.1),
     "defects.payments.invalid_quantity: unknown defect type"),
    (lambda d: d.pop("dq"),
     "dq: missing required key"),
])
def test_config_errors_name_the_key_and_the_expectation(tmp_path, mutate, message):
    path = write_config(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_config(path, "default")
    assert message in str(err.value)


def test_a_profile_cannot_add_keys(tmp_path):
    path = write_config(tmp_path, lambda d: d["profiles"]["tiny"]["generator"].update(dayz=3))
    with pytest.raises(ConfigError, match="profiles.tiny.generator.dayz: unknown key"):
        load_config(path, "tiny")


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"--profile huge: unknown profile \(expected one of: "
                                          r"default, large, medium, small, tiny\)"):
        load_config(profile="huge")


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_entry_point_exits_2_with_one_line_message(tmp_path, capsys):
    path = write_config(tmp_path, lambda d: d["dq"].update(max_reject_rate=2))
    code = generate_main(["--config", str(path), "--data-root", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == ("config error: dq.max_reject_rate: expected a rate between 0 and 1, "
                           "got 2.0")
    assert not (tmp_path / "data").exists()


def test_script_exits_2_without_a_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "ingestion/orders_generator.py", "--profile", "nope",
                           "--data-root", str(tmp_path)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "config error: --profile nope: unknown profile" in proc.stderr


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["spark"].update(driver_memory="lots"),
     "spark.driver_memory: expected a memory size such as 512m or 2g, got 'lots'"),
    (lambda d: d["spark"].update(master="bogus://x"),
     "spark.master: expected a Spark master URL (local[N], spark://HOST:PORT, yarn, k8s://URL), "
     "got 'bogus://x'"),
    # the base section must be valid even where the chosen profile overrides it
    (lambda d: d["generator"].update(days="three"),
     "generator.days: expected an integer, got 'three' (str)"),
])
def test_values_are_checked_before_any_jvm_starts(tmp_path, mutate, message):
    path = write_config(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_config(path, "tiny")
    assert message in str(err.value)


@pytest.mark.parametrize("var, value, message", [
    ("PIPELINE_MAX_RETRIES", "abc", "env PIPELINE_MAX_RETRIES='abc': expected an integer, got 'abc' (str)"),
    ("PIPELINE_MAX_RETRIES", "-1", "env PIPELINE_MAX_RETRIES='-1': expected a value >= 0, got -1"),
    ("PIPELINE_BACKOFF_SECONDS", "soon", "env PIPELINE_BACKOFF_SECONDS='soon': expected a number"),
    ("PIPELINE_MAX_PARALLEL_STEPS", "0", "env PIPELINE_MAX_PARALLEL_STEPS='0': expected a positive value"),
])
def test_env_overrides_are_validated_like_the_file(monkeypatch, var, value, message):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_config(profile="tiny")
    assert message in str(err.value)


def test_env_overrides_apply(monkeypatch):
    monkeypatch.setenv("PIPELINE_MAX_RETRIES", "5")
    monkeypatch.setenv("PIPELINE_BACKOFF_SECONDS", "0.5")
    o = load_config(profile="tiny").orchestrator
    assert (o.max_retries, o.backoff_base_seconds, o.max_parallel_steps) == (5, 0.5, 3)


def test_orchestrator_with_a_bad_env_value_exits_2_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "orchestrator.py", "--profile", "tiny", "--data-root",
                           str(tmp_path / "data"), "--log-dir", str(tmp_path / "logs")],
                          cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PIPELINE_MAX_RETRIES": "abc"})
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("config error: env PIPELINE_MAX_RETRIES='abc': expected an "
                                   "integer, got 'abc' (str)")
    assert not (tmp_path / "data").exists()


def test_the_generator_never_imports_pyspark():
    proc = subprocess.run([sys.executable, "-c",
                           "import sys, ingestion.generate_all, ingestion.bronze, lakehouse.steps; "
                           "print('pyspark' in sys.modules)"], cwd=REPO, capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr


def test_only_this_sparks_delta_build_is_taken_from_the_jar_cache(tmp_path, monkeypatch):
    import pyspark
    from lakehouse.spark import delta_jar_conf
    monkeypatch.setattr(pyspark, "__version__", "4.0.1")
    jars = tmp_path / "jars"
    jars.mkdir()
    for name in ("io.delta_delta-spark_4.0_2.13-4.4.0.jar", "io.delta_delta-spark_4.2_2.13-4.4.0.jar",
                 "io.delta_delta-spark_4.0_2.13-4.3.0.jar"):
        (jars / name).write_bytes(b"")
    # delta-storage missing: resolved (into the cache) rather than half loaded
    resolving = delta_jar_conf(str(tmp_path))
    assert resolving["spark.jars.packages"] == "io.delta:delta-spark_4.0_2.13:4.4.0"
    # Ivy writes what it resolves to <spark.jars.ivy>/jars: the directory looked in above, so
    # the next session loads the jars instead of resolving again
    assert resolving["spark.jars.ivy"] == str(tmp_path)
    (jars / "io.delta_delta-storage-4.4.0.jar").write_bytes(b"")
    # after an upgrade the cache holds another Spark's build too: never both on the classpath
    assert delta_jar_conf(str(tmp_path)) == {"spark.jars": (
        f"{jars / 'io.delta_delta-spark_4.0_2.13-4.4.0.jar'},{jars / 'io.delta_delta-storage-4.4.0.jar'}")}


def test_the_class_archive_is_written_once_then_mapped(tmp_path, monkeypatch):
    import dataclasses

    from lakehouse import spark as sessions
    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    monkeypatch.setattr(sessions, "_pending_archive", [])
    cfg = dataclasses.replace(load_config().spark, class_archive_dir=str(tmp_path / "jvm"))
    archive = sessions.class_archive(cfg)
    assert archive.parent == tmp_path / "jvm" and archive.name.startswith("classes-")
    # no archive yet: a JVM that is not to write one starts without; the pipeline's writes it
    assert sessions.class_archive_option(cfg, write=False) == ""
    pending = archive.with_name(f"{archive.name}.{os.getpid()}.tmp")
    assert sessions.class_archive_option(cfg, write=True) == (
        f"-XX:ArchiveClassesAtExit={pending} -Xlog:cds=off,cds+dynamic=off")
    pending.write_bytes(b"written as the JVM exited")
    sessions.finish_class_archive(0)
    assert archive.read_bytes() == b"written as the JVM exited" and not pending.exists()
    # from then on every JVM maps it, and writes no other
    assert sessions.class_archive_option(cfg, write=True) == f"-XX:SharedArchiveFile={archive}"
    assert sessions.driver_java_options(cfg, write_class_archive=False).split() == [
        *cfg.conf["spark.driver.extraJavaOptions"].split(),
        f"-Dlog4j2.configurationFile={(REPO / 'conf' / 'log4j2.properties').as_uri()}",
        f"-XX:SharedArchiveFile={archive}"]


def test_a_class_archive_is_kept_only_from_a_clean_exit_and_only_where_java_can_use_it(tmp_path, monkeypatch):
    import dataclasses

    from lakehouse import spark as sessions
    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    monkeypatch.setattr(sessions, "_pending_archive", [])
    cfg = dataclasses.replace(load_config().spark, class_archive_dir=str(tmp_path / "jvm"))
    archive = sessions.class_archive(cfg)
    sessions.class_archive_option(cfg, write=True)
    pending = archive.with_name(f"{archive.name}.{os.getpid()}.tmp")
    pending.write_bytes(b"cut short")
    sessions.finish_class_archive(None)         # the JVM was killed: what it wrote is removed
    assert not pending.exists() and not archive.exists()
    # off, or a non-empty directory on the classpath (which Java refuses to archive): none
    assert sessions.class_archive(dataclasses.replace(cfg, class_archive_dir="")) is None
    conf_dir = tmp_path / "spark-conf"
    conf_dir.mkdir()
    monkeypatch.setenv("SPARK_CONF_DIR", str(conf_dir))
    assert sessions.class_archive(cfg) is not None      # an empty one is fine
    (conf_dir / "spark-defaults.conf").write_text("spark.ui.enabled false\n")
    assert sessions.class_archive(cfg) is None
    assert sessions.driver_java_options(cfg, write_class_archive=True) == cfg.conf["spark.driver.extraJavaOptions"]


@pytest.mark.skipif(sys.platform != "linux", reason="child subreapers are a Linux feature")
def test_ending_the_jvm_reaps_the_finished_children_it_never_waited_for():
    """Like spark-submit's shell, the process starts a child and then execs the
    long-running program, which never waits for it: once the process has ended, that child is
    reaped too, not left as a zombie for init (which may take its time) to collect."""
    from lakehouse import spark as sessions
    proc = subprocess.Popen(["bash", "-c", "(sleep 0.2) & exec cat > /dev/null"],
                            stdin=subprocess.PIPE)
    for _ in range(100):                        # until the finished child shows as a zombie
        children = psutil.Process(proc.pid).children()
        if children and children[0].status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.05)
    [child] = children
    assert sessions.end_process(proc, timeout_s=10) == 0    # `cat` ends as its stdin closes
    assert not psutil.pid_exists(child.pid)                 # reaped, not a zombie any more


def test_the_jvm_warm_up_names_classes_this_spark_has(spark):
    """A class Spark renamed would make the warm-up a silent no-op (it only logs at debug)."""
    from lakehouse.spark import WARM_UP_CLASSES, warm_up
    jvm = spark.sparkContext._jvm
    assert [jvm.java.lang.Class.forName(name).getName() for name in WARM_UP_CLASSES] == [
        "org.apache.spark.sql.catalyst.util.CollationAwareUTF8String"]
    thread = warm_up(spark)
    thread.join(timeout=60)
    assert not thread.is_alive()
