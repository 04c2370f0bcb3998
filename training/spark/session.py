"""Starting (or joining) the SparkSession of a training job, with a helpful error when Spark cannot run."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[2]"
# the driver collects the validated lines and the factors (docs/spark.md): modest, as the machine is shared
DRIVER_MEMORY = "4g"


class SparkUnavailableError(RuntimeError):
    """pyspark is not installed, or no Java runtime is found."""


def check_spark() -> None:
    """Raise ``SparkUnavailableError`` saying what to install when pyspark or Java is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise SparkUnavailableError(
            "pyspark is not installed: pip install 'recs[spark]' (make test installs it)"
        ) from exc
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))):
        raise SparkUnavailableError(
            "Spark needs a Java runtime (17 or later) and none was found on PATH or in JAVA_HOME: "
            "install one (Debian: apt-get install openjdk-17-jre-headless)"
        )


@contextmanager
def spark_session(master: str = DEFAULT_MASTER) -> Iterator[SparkSession]:
    """The active SparkSession if one runs in this process (left running), else a new one on ``master``,
    stopped at the end of the block."""
    check_spark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    builder = SparkSession.builder
    if master.startswith("local"):
        # the Python workers are this interpreter, with this project importable (pyspark reads the variable
        # when the context starts; a cluster's executors name their own, with recs installed)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        builder.master(master)
        .appName("recs train")
        .config("spark.driver.memory", DRIVER_MEMORY)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", "8")
        # ALS's lineage grows with its iterations: deep task graphs need deep stacks (and checkpoints, below)
        .config("spark.driver.extraJavaOptions", "-Xss64m")
        .config("spark.executor.extraJavaOptions", "-Xss64m")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    with tempfile.TemporaryDirectory(prefix="recs-spark-checkpoints-") as checkpoints:
        if master.startswith("local"):  # a cluster's checkpoints belong on its shared file system
            session.sparkContext.setCheckpointDir(checkpoints)
        try:
            yield session
        finally:
            session.stop()
