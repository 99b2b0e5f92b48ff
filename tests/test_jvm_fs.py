"""The local file system of lakehouse/jvm/: what it changes (no chmod or readlink process) keeps
Hadoop's results, and where it cannot be used the stock file system is."""
from __future__ import annotations

import dataclasses
import logging
import os
import stat
import zipfile

import pytest
from py4j.protocol import Py4JJavaError

from lakehouse import jvm_fs
from lakehouse.config import load_config
from lakehouse.storage import java_class


# The classes are compiled with the JDK's javac; with a JRE only, the stock file system is used
# (tested below) and these tests have nothing to test.
needs_javac = pytest.mark.skipif(jvm_fs.javac_executable() is None, reason="no javac: a JRE only")


@pytest.fixture
def jvm_fs_api(spark):
    jvm = spark.sparkContext._jvm
    conf = spark._jsc.hadoopConfiguration()
    fs = jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI("file:///"), conf)
    context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(jvm.java.net.URI("file:///"), conf)
    return jvm, fs, context


@needs_javac
def test_the_session_uses_the_nio_local_file_system_for_file_paths(jvm_fs_api):
    jvm, fs, context = jvm_fs_api
    assert fs.getClass().getName() == "ecomplatform.hadoop.NioLocalFileSystem"
    assert fs.getRaw().getClass().getName() == "ecomplatform.hadoop.NioRawLocalFileSystem"
    assert context.getDefaultFileSystem().getClass().getName() == "ecomplatform.hadoop.NioLocalFs"


@needs_javac
def test_permissions_are_set_as_chmod_would(jvm_fs_api, tmp_path):
    jvm, fs, _ = jvm_fs_api
    target = tmp_path / "part-0.parquet"
    target.write_bytes(b"x")
    path = jvm.org.apache.hadoop.fs.Path(target.as_uri())
    for mode in (0o640, 0o755, 0o600):
        fs.setPermission(path, jvm.org.apache.hadoop.fs.permission.FsPermission(mode))
        assert stat.S_IMODE(os.stat(target).st_mode) == mode
    # a file created through Hadoop gets the default 0666 minus the umask (022 here: 0644)
    created = tmp_path / "created.txt"
    fs.create(jvm.org.apache.hadoop.fs.Path(created.as_uri())).close()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(created).st_mode) == 0o666 & ~umask


@needs_javac
def test_link_status_is_hadoops_for_files_links_and_missing_paths(jvm_fs_api, tmp_path):
    jvm, fs, _ = jvm_fs_api
    Path = jvm.org.apache.hadoop.fs.Path
    target = tmp_path / "00000000000000000000.json"
    target.write_text('{"commitInfo":{}}\n')
    status = fs.getFileLinkStatus(Path(target.as_uri()))
    assert (status.isFile(), status.isSymlink(), status.getLen()) == (True, False, 18)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    status = fs.getFileLinkStatus(Path(str(link)))
    assert status.isSymlink() and status.getSymlink().getName() == "00000000000000000000.json"
    with pytest.raises(Py4JJavaError, match="java.io.FileNotFoundException"):
        fs.getFileLinkStatus(Path((tmp_path / "missing.json").as_uri()))


@needs_javac
def test_a_rename_through_file_context_still_refuses_an_existing_target(spark, jvm_fs_api, tmp_path):
    """What a Delta commit relies on: writing version N fails when another writer wrote it."""
    jvm, _, context = jvm_fs_api
    Path = jvm.org.apache.hadoop.fs.Path
    first, second, committed = (tmp_path / n for n in (".v1.tmp", ".v1b.tmp", "00000000000000000001.json"))
    first.write_text("mine\n")
    second.write_text("theirs\n")
    rename_options = spark.sparkContext._gateway.new_array(
        java_class(spark, "org.apache.hadoop.fs.Options$Rename"), 0)       # none: no overwrite
    context.rename(Path(first.as_uri()), Path(committed.as_uri()), rename_options)
    assert committed.read_text() == "mine\n" and not first.exists()
    with pytest.raises(Py4JJavaError, match="FileAlreadyExistsException"):
        context.rename(Path(second.as_uri()), Path(committed.as_uri()), rename_options)
    assert committed.read_text() == "mine\n" and second.exists()


@needs_javac
def test_the_jar_is_compiled_once_into_the_cache(tmp_path):
    jar = jvm_fs.local_fs_jar(str(tmp_path))
    assert jar.parent == tmp_path / "jvm" and jar.name.startswith("nio-local-fs-")
    assert sorted(zipfile.ZipFile(jar).namelist()) == [
        "ecomplatform/hadoop/NioLocalFileSystem.class", "ecomplatform/hadoop/NioLocalFs$Raw.class",
        "ecomplatform/hadoop/NioLocalFs.class", "ecomplatform/hadoop/NioRawLocalFileSystem.class"]
    built = jar.stat().st_mtime_ns
    assert jvm_fs.local_fs_jar(str(tmp_path)) == jar and jar.stat().st_mtime_ns == built


@needs_javac
def test_settings_put_the_jar_first_on_a_local_or_loopback_classpath(tmp_path):
    jar = jvm_fs.local_fs_jar(str(tmp_path))
    expected = {"spark.hadoop.fs.file.impl": "ecomplatform.hadoop.NioLocalFileSystem",
                "spark.hadoop.fs.AbstractFileSystem.file.impl": "ecomplatform.hadoop.NioLocalFs",
                "spark.driver.extraClassPath": str(jar), "spark.executor.extraClassPath": str(jar)}
    for master in ("local[2]", "local", "spark://127.0.0.1:7077", "spark://localhost:7077"):
        assert jvm_fs.local_fs_settings(str(tmp_path), master, {}) == expected
    # a classpath the config sets stays, after the jar
    own = jvm_fs.local_fs_settings(str(tmp_path), "local[2]", {"spark.driver.extraClassPath": "/opt/x.jar"})
    assert own["spark.driver.extraClassPath"] == f"{jar}{os.pathsep}/opt/x.jar"
    assert own["spark.executor.extraClassPath"] == str(jar)


def test_the_stock_file_system_is_kept_where_the_jar_cannot_serve(tmp_path, monkeypatch, caplog):
    # executors on other machines would not find the jar
    for master in ("spark://10.1.2.3:7077", "yarn", "k8s://https://api:6443"):
        assert jvm_fs.local_fs_settings(str(tmp_path), master, {}) == {}
    # a config that names its own local file system keeps it
    assert jvm_fs.local_fs_settings(str(tmp_path), "local[2]",
                                    {"spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem"}) == {}
    # no JDK compiler: said once, and nothing set
    monkeypatch.setattr(jvm_fs, "javac_executable", lambda: None)
    monkeypatch.setattr(jvm_fs, "_said", set())
    with caplog.at_level(logging.INFO, logger="lakehouse.jvm_fs"):
        assert jvm_fs.local_fs_settings(str(tmp_path / "no-jdk"), "local[2]", {}) == {}
        assert jvm_fs.local_fs_settings(str(tmp_path / "no-jdk"), "local[2]", {}) == {}
    said = [r.getMessage() for r in caplog.records if r.name == "lakehouse.jvm_fs"]
    assert len(said) == 1 and said[0].startswith("no javac")


def test_the_class_archive_is_one_per_driver_classpath(tmp_path):
    from lakehouse import spark as sessions
    cfg = dataclasses.replace(load_config().spark, class_archive_dir=str(tmp_path / "jvm"))
    plain, with_jar = sessions.class_archive(cfg), sessions.class_archive(cfg, "/cache/nio.jar")
    assert plain.parent == with_jar.parent and plain != with_jar
    assert sessions.class_archive(cfg, "/cache/nio.jar") == with_jar


@needs_javac
def test_spark_submit_gets_the_same_settings_for_a_local_master_only(tmp_path):
    from lakehouse.spark import spark_submit_args
    cfg = dataclasses.replace(load_config().spark, jar_cache=str(tmp_path))
    jar = jvm_fs.local_fs_jar(str(tmp_path))
    local = spark_submit_args(dataclasses.replace(cfg, master="local[2]"))
    assert "--conf=spark.hadoop.fs.file.impl=ecomplatform.hadoop.NioLocalFileSystem" in local
    assert f"--conf=spark.driver.extraClassPath={jar}" in local
    remote = spark_submit_args(dataclasses.replace(cfg, master="spark://10.1.2.3:7077"))
    assert not [a for a in remote if "fs.file.impl" in a or "extraClassPath" in a]
