"""pyspark's jars merged into one (lakehouse/classpath.py): the merged jar holds what the JVM
found on the old classpath, and the suite's own JVM runs on it."""
from __future__ import annotations

import dataclasses
import os
import struct
import zipfile
from pathlib import Path

import pytest
from pyspark import SparkContext

from lakehouse import classpath
from lakehouse import spark as sessions
from lakehouse.config import load_config

PLUGINS = classpath.LOG4J_PLUGINS


def plugin_index(categories: dict[bytes, list[tuple[bytes, bytes, bytes, int, int]]]) -> bytes:
    """A Log4j2Plugins.dat as log4j writes it (Java's DataOutput)."""
    def utf(value: bytes) -> bytes:
        return struct.pack(">H", len(value)) + value
    out = struct.pack(">i", len(categories))
    for category, entries in categories.items():
        out += utf(category) + struct.pack(">i", len(entries))
        for key, class_name, name, printable, defer in entries:
            out += utf(key) + utf(class_name) + utf(name) + bytes((printable, defer))
    return out


def make_jar(path: Path, entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as jar:
        for name, data in entries.items():
            jar.writestr(name, data)
    return path


def test_merged_jar_keeps_the_first_copy_and_combines_what_is_read_from_every_jar(tmp_path):
    first = make_jar(tmp_path / "first.jar", {
        "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nClass-Path: other.jar\r\n\r\n",
        "META-INF/SIGNER.SF": b"signature", "META-INF/SIGNER.RSA": b"key",
        "com/example/One.class": b"one from first" * 50,
        "META-INF/services/com.example.Provider": b"com.example.A\n",
        PLUGINS: plugin_index({b"core": [(b"console", b"com.example.Console", b"Console", 1, 0)]}),
        "shared.properties": b"from first",
    })
    second = make_jar(tmp_path / "second.jar", {
        "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\n\r\n",
        "com/example/One.class": b"one from second",
        "com/example/Two.class": b"two",
        "META-INF/services/com.example.Provider": b"com.example.B",       # no final newline
        PLUGINS: plugin_index({b"core": [(b"console", b"com.example.Other", b"Console", 1, 0),
                                         (b"file", b"com.example.File", b"File", 1, 1)],
                               b"converter": [(b"date", b"com.example.Date", b"d", 0, 0)]}),
        "shared.properties": b"from second",
    }, zipfile.ZIP_STORED)
    merged = tmp_path / "merged.jar"
    classpath.merge_jars([first, second], merged)
    with zipfile.ZipFile(merged) as jar:
        assert jar.testzip() is None                    # every copied entry's CRC holds
        assert sorted(jar.namelist()) == sorted([
            "META-INF/MANIFEST.MF", "com/example/One.class", "com/example/Two.class",
            "META-INF/services/com.example.Provider", PLUGINS, "shared.properties"])
        assert jar.read("com/example/One.class") == b"one from first" * 50
        assert jar.getinfo("com/example/One.class").compress_type == zipfile.ZIP_DEFLATED
        assert jar.getinfo("com/example/Two.class").compress_type == zipfile.ZIP_STORED
        assert jar.read("shared.properties") == b"from first"
        assert jar.read("META-INF/services/com.example.Provider") == b"com.example.A\ncom.example.B\n"
        manifest = jar.read("META-INF/MANIFEST.MF").decode()
        assert "Multi-Release: true" in manifest and "Class-Path" not in manifest
        assert jar.read(PLUGINS) == plugin_index({
            b"core": [(b"console", b"com.example.Console", b"Console", 1, 0),
                      (b"file", b"com.example.File", b"File", 1, 1)],
            b"converter": [(b"date", b"com.example.Date", b"d", 0, 0)]})


def test_a_damaged_plugin_index_is_an_error_not_a_silent_half_merge():
    whole = plugin_index({b"core": [(b"console", b"com.example.Console", b"Console", 1, 0)]})
    with pytest.raises(ValueError, match="truncated"):
        classpath.merge_log4j_plugins([whole[:-3]])
    with pytest.raises(ValueError, match="trailing"):
        classpath.merge_log4j_plugins([whole + b"\0"])


def test_the_merged_home_is_built_once_and_holds_pysparks_launch_scripts(tmp_path, caplog):
    pyspark_home = tmp_path / "pyspark"
    (pyspark_home / "bin").mkdir(parents=True)
    (pyspark_home / "bin" / "spark-submit").write_text("#!/bin/sh\n")
    (pyspark_home / "bin" / "spark-submit").chmod(0o755)
    (pyspark_home / "jars").mkdir()
    make_jar(pyspark_home / "jars" / "a.jar", {"a/A.class": b"a"})
    make_jar(pyspark_home / "jars" / "b.jar", {"b/B.class": b"b"})
    caplog.set_level("INFO", logger="lakehouse.classpath")
    home = classpath.launch_home(str(tmp_path / "cache"), pyspark_home)
    assert home.parent == tmp_path / "cache" and home.name.startswith("spark-home-")
    assert sorted(p.name for p in (home / "jars").iterdir()) == ["spark-jars.jar"]
    with zipfile.ZipFile(home / "jars" / "spark-jars.jar") as jar:
        assert jar.read("a/A.class") == b"a" and jar.read("b/B.class") == b"b"
    assert os.access(home / "bin" / "spark-submit", os.X_OK)
    assert sorted(p.name for p in home.parent.iterdir()) == [home.name]      # nothing half built
    built = (home / "jars" / "spark-jars.jar").stat().st_mtime_ns
    assert classpath.launch_home(str(tmp_path / "cache"), pyspark_home) == home
    assert (home / "jars" / "spark-jars.jar").stat().st_mtime_ns == built
    assert sum("merged pyspark's 2 jars" in r.getMessage() for r in caplog.records) == 1
    # another set of jars (an upgrade) gets a home of its own
    make_jar(pyspark_home / "jars" / "c.jar", {"c/C.class": b"c"})
    assert classpath.launch_home(str(tmp_path / "cache"), pyspark_home) != home


def test_without_pysparks_jars_the_jvm_starts_from_pysparks_home(tmp_path, caplog):
    caplog.set_level("INFO", logger="lakehouse.classpath")
    assert classpath.launch_home(str(tmp_path / "cache"), tmp_path / "no-pyspark") is None
    assert "the JVM starts from pyspark's own jars" in caplog.text


def test_the_suites_jvm_runs_on_the_merged_jar(spark):
    if os.environ.get("SPARK_HOME"):
        pytest.skip("SPARK_HOME is set: the JVM starts from that Spark, as documented")
    jvm = spark.sparkContext._jvm
    entries = [Path(e) for e in jvm.java.lang.System.getProperty("java.class.path").split(os.pathsep)]
    spark_jars = [e for e in entries if e.parent.name == "jars"]
    assert [e.name for e in spark_jars] == ["spark-jars.jar"]
    assert spark_jars[0].parent.parent.name.startswith("spark-home-")
    # log4j finds the plugins of its three jars in the one merged index
    plugins = jvm.org.apache.logging.log4j.core.config.plugins.util.PluginManager("Core")
    plugins.collectPlugins()
    assert plugins.getPluginType("console").getPluginClass().getName() == (
        "org.apache.logging.log4j.core.appender.ConsoleAppender")
    assert plugins.getPluginType("jsontemplatelayout").getPluginClass().getName() == (
        "org.apache.logging.log4j.layout.template.json.JsonTemplateLayout")
    # and the ServiceLoader the data sources of every jar
    conf = spark._jsparkSession.sessionState().conf()
    found = [jvm.org.apache.spark.sql.execution.datasources.DataSource.lookupDataSource(name, conf).getName()
             for name in ("parquet", "text", "noop", "delta")]
    assert found == ["org.apache.spark.sql.execution.datasources.v2.parquet.ParquetDataSourceV2",
                     "org.apache.spark.sql.execution.datasources.v2.text.TextDataSourceV2",
                     "org.apache.spark.sql.execution.datasources.noop.NoopDataSource",
                     "org.apache.spark.sql.delta.sources.DeltaDataSource"]


def test_the_merged_home_is_used_only_where_this_process_starts_the_jvm(monkeypatch, tmp_path):
    cfg = dataclasses.replace(load_config().spark, jar_cache=str(tmp_path / "cache"))
    monkeypatch.delenv("SPARK_HOME", raising=False)
    monkeypatch.setattr(sessions, "launch_home", lambda cache, pyspark_home: tmp_path / "merged")
    assert sessions.merged_launch_home(cfg) is None            # the suite's JVM is running
    monkeypatch.setattr(SparkContext, "_gateway", None)
    assert sessions.merged_launch_home(cfg) == tmp_path / "merged"
    assert sessions.merged_launch_home(dataclasses.replace(cfg, merge_jars=False)) is None
    monkeypatch.setenv("SPARK_HOME", str(tmp_path / "their-spark"))
    assert sessions.merged_launch_home(cfg) is None
    # the class archive is the merged classpath's own
    archives = dataclasses.replace(cfg, class_archive_dir=str(tmp_path / "jvm"))
    monkeypatch.delenv("SPARK_HOME")
    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    assert sessions.class_archive(archives, home=tmp_path / "merged") != sessions.class_archive(archives)
