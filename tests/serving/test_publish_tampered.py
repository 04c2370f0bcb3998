"""Publishing a tampered artifact: refused with a clear message before anything is written to Redis, and the
version that was serving stays active and answers the same.

End to end: the session's bundle is registered in a real MLflow store (sqlite under the test's RECS_HOME), a
good version is published into the real Redis, then the stored artifact is damaged and ``recs publish`` runs
as a real process against it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import mlflow
import numpy as np
import pytest
import redis

from recommender.bundle import MANIFEST, ModelBundle, bundle_files
from recommender.errors import ModelFileError
from recommender.ids import IdMap
from recommender.model_files import file_digests
from serving.app import create_app
from serving.cache import ACTIVE_KEY
from serving.publish import InconsistentBundleError, PublishReport, publish_bundle
from serving.settings import ServingSettings
from tests.registering import register
from training.settings import TrainingSettings

RECS = str(Path(sys.executable).with_name("recs"))


def redis_state(client: redis.Redis) -> dict[bytes, bytes | None]:
    """Every key and its serialized value (DUMP): any write shows."""
    return {key: client.dump(key) for key in sorted(client.scan_iter(count=1000))}


def answers(redis_url: str, customers: list[str], items: list[str]) -> list[dict[str, Any]]:
    """What the API answers for these customers and items (minus the per-request id), through the app (which
    records no answers, so that the store holds only what publish wrote)."""
    paths = [f"/v1/users/{c}/recommendations?k=10" for c in customers]
    paths += [f"/v1/items/{i}/complements?k=10" for i in items]

    async def ask() -> list[dict[str, Any]]:
        app = create_app(ServingSettings(redis_url=redis_url, record_answers=False))
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            responses = [await c.get(path) for path in paths]
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        return [{k: v for k, v in r.json().items() if k != "recommendation_id"} for r in responses]

    return anyio.run(ask)


def sample(bundle: ModelBundle) -> tuple[list[str], list[str]]:
    return bundle.customers.ids[:3].tolist(), bundle.items.ids[:3].tolist()


def resign(directory: Path) -> None:
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["files"] = file_digests(directory, bundle_files(manifest["models"]))
    (directory / MANIFEST).write_text(json.dumps(manifest))


def truncate_arrays(directory: Path) -> str:
    path = directory / "models" / "next_purchase" / "arrays.npz"
    path.write_bytes(path.read_bytes()[:1000])
    return "models/next_purchase/arrays.npz"


def rewrite_arrays(path: Path, name: str, values: np.ndarray) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays[name] = values
    np.savez(path, **arrays)  # type: ignore[arg-type]


def complement_out_of_range(directory: Path) -> str:
    """A consistent-looking edit: an item index past the catalog, with the manifest re-signed."""
    path = directory / "models" / "complements" / "arrays.npz"
    with np.load(path, allow_pickle=False) as npz:
        indices, n_items = npz["indices"].copy(), int(npz["__shape__"][1])
    indices[0] = n_items
    rewrite_arrays(path, "indices", indices)
    resign(directory)
    return "complements model file: pairs holds indices outside"


# the library: nothing is written when the bundle is refused ----------------------------------------------------


def test_a_tampered_copy_is_refused_and_the_serving_version_is_untouched(
    trained, published: PublishReport, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    bundle: ModelBundle = trained.bundle
    customers, items = sample(bundle)
    before, answered = redis_state(redis_client), answers(redis_url, customers, items)
    assert all(not body["fallback"] for body in answered[:3])  # real answers from the published version

    for tamper in (truncate_arrays, complement_out_of_range):
        copy = bundle.save(tmp_path / tamper.__name__)
        named = tamper(copy)
        with pytest.raises(ModelFileError, match=named):
            ModelBundle.load(copy)

    # an artifact that loads but would answer NaN scores (invalid JSON for the API) is refused by publish
    copy = bundle.save(tmp_path / "nan")
    rewrite_arrays(copy / "models" / "popular" / "arrays.npz", "item_scores", np.full(len(bundle.items), np.nan))
    resign(copy)
    with pytest.raises(InconsistentBundleError, match="popular model gives NaN or infinite scores"):
        publish_bundle(ModelBundle.load(copy), redis_client, model_name="test-recs", model_version="2")

    # a bundle object whose parts disagree (an item map from elsewhere) is refused by publish itself
    other_items = IdMap(np.asarray([*bundle.items.ids.tolist(), "stray-item"]))
    with pytest.raises(InconsistentBundleError, match="fitted on"):
        publish_bundle(replace(bundle, items=other_items), redis_client, model_name="test-recs", model_version="2")

    assert redis_client.get(ACTIVE_KEY) == published.version.encode()
    assert redis_state(redis_client) == before  # not one key written, not even the version list
    assert answers(redis_url, customers, items) == answered


# the command line: recs publish of a tampered registered model -------------------------------------------------


@pytest.fixture
def registered(recs_home: Path, trained, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The session's bundle registered as version 1 of ``test-recs``; yields its directory in the store.

    ``tracking.connect`` points mlflow's process-wide tracking and registry URIs (and their environment
    variables) at this test's store: both are reset afterwards, so later tests do not look there.
    """
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # mlflow sets both in os.environ: undo after
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    settings = TrainingSettings()
    register(settings, trained)
    (manifest,) = recs_home.rglob(f"bundle/{MANIFEST}")
    yield manifest.parent
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]


def recs_publish(recs_home: Path, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECS_HOME": str(recs_home), "RECS_REDIS_URL": redis_url, "COLUMNS": "250"}
    env["RECS_MODEL_NAME"] = "test-recs"
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_REGISTRY_URI", None)
    command = [RECS, "publish", "--model-uri", "models:/test-recs/1", "--k", "20"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_recs_publish_of_a_tampered_artifact_fails_before_writing_and_the_old_version_answers(
    trained,
    registered: Path,
    recs_home: Path,
    published: PublishReport,
    redis_client: redis.Redis,
    redis_url: str,
    tmp_path: Path,
) -> None:
    customers, items = sample(trained.bundle)
    before, answered = redis_state(redis_client), answers(redis_url, customers, items)
    pristine = Path(shutil.copytree(registered, tmp_path / "pristine"))

    named = truncate_arrays(registered)
    result = recs_publish(recs_home, redis_url)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 4 and "Traceback" not in output, output
    assert f"{named} does not match its sha256 in manifest.json" in output, output  # names the damaged file
    assert redis_client.get(ACTIVE_KEY) == published.version.encode()
    assert redis_state(redis_client) == before  # nothing written
    assert answers(redis_url, customers, items) == answered

    # the same version restored publishes: the failure above came from the damage alone
    shutil.rmtree(registered)
    shutil.copytree(pristine, registered)
    result = recs_publish(recs_home, redis_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert redis_client.get(ACTIVE_KEY) != published.version.encode()
