"""Model artifacts: loaded without pickle, and a tampered, truncated or inconsistent one is refused.

A saved bundle (``ModelBundle.save``) carries the sha256 of every file in ``manifest.json``: any change is
refused naming the file. Behind that, every reader checks what it reads (a consistent but wrong artifact,
as when the manifest is re-signed after an edit): shapes and dtypes against the saved sizes, indices in
range, configs against their schema, object arrays refused. Every refusal is a ``ModelFileError``.
"""

from __future__ import annotations

import ast
import json
import pickle
import shutil
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.bundle import MANIFEST, ModelBundle, bundle_files
from recommender.errors import ModelFileError
from recommender.model_files import ChecksumMismatchError, file_digests, read_arrays
from recommender.models.collaborative import CollaborativeModel
from recommender.models.popular import PopularModel
from tests.recommender.conftest import random_history

ROOT = Path(__file__).resolve().parents[2]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle fitted on the small random shop, saved once; tests tamper with copies."""
    bundle = ModelBundle.fit(random_history(np.random.default_rng(20240501)))
    return bundle.save(tmp_path_factory.mktemp("saved") / "bundle")


@pytest.fixture
def bundle_dir(saved: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / "bundle"))


def resign(directory: Path) -> None:
    """Record the current content of every file in the manifest, as a careless tool (or an attacker) would."""
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["files"] = file_digests(directory, bundle_files(manifest["models"]))
    (directory / MANIFEST).write_text(json.dumps(manifest))


def rewrite_arrays(path: Path, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    change(arrays)
    np.savez(path, **arrays)  # type: ignore[arg-type]


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))


def answers_everything(bundle: ModelBundle) -> None:
    """Every surface answers valid item ids for known and unknown queries."""
    customers = [*bundle.customers.ids[:20].tolist(), "nobody"]
    items = [*bundle.items.ids[:20].tolist(), "nothing"]
    for surface in ("next_purchase", "for_you", "popular"):
        out = bundle.recommend(customers, surface, k=10)  # type: ignore[arg-type]
        assert set(out["item_id"].tolist()) <= set(bundle.items.ids.tolist())
    for surface in ("similar", "complements"):
        out = bundle.recommend(items, surface, k=10)  # type: ignore[arg-type]
        assert set(out["item_id"].tolist()) <= set(bundle.items.ids.tolist())


# no pickle, anywhere ------------------------------------------------------------------------------------------


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(node: ast.expr) -> str:
    return ast.unparse(node)


def test_every_array_load_in_the_code_refuses_pickle() -> None:
    loads = []
    for package in ("recommender", "serving", "training", "benchmarks"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    modules = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                    assert not {"pickle", "cPickle", "joblib", "cloudpickle", "dill"} & set(modules), path
            for call in _calls(tree):
                if _name(call.func) in ("np.load", "numpy.load", "np.lib.format.read_array"):
                    keywords = {k.arg: k.value for k in call.keywords}
                    pickle_off = "allow_pickle" in keywords and ast.literal_eval(keywords["allow_pickle"]) is False
                    assert pickle_off, f"{path}:{call.lineno} loads arrays without allow_pickle=False"
                    loads.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert any(site.startswith("recommender/model_files.py") for site in loads), loads  # where model files load


class _Payload:
    """Unpickling this creates ``marker``: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[object, ...]]:
        return (Path.touch, (self.marker,))


def test_an_object_array_is_refused_and_its_pickle_never_runs(bundle_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pickle-ran"
    payload = np.array([_Payload(marker)], dtype=object)
    assert pickle.loads(pickle.dumps(payload)) is not None and marker.exists()  # the payload works...
    marker.unlink()

    model_dir = bundle_dir / "models" / "popular"
    rewrite_arrays(model_dir / "arrays.npz", lambda a: a.update(ranking=payload))
    with pytest.raises(ModelFileError, match=r"object array, which only pickle could load: refused"):
        PopularModel.load(model_dir)
    resign(bundle_dir)
    with pytest.raises(ModelFileError, match=r"popular/arrays.npz \(array 'ranking'\): holds an object array"):
        ModelBundle.load(bundle_dir)
    assert not marker.exists()  # ...and was never run


# any change is caught by the manifest's checksums ------------------------------------------------------------

Tamper = Callable[[Path], None]


def truncate(relative: str) -> Tamper:
    def apply(directory: Path) -> None:
        path = directory / relative
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return apply


def flip_byte(relative: str, where: float = 0.6) -> Tamper:
    def apply(directory: Path) -> None:
        data = bytearray((directory / relative).read_bytes())
        data[int(len(data) * where)] ^= 0x01
        (directory / relative).write_bytes(bytes(data))

    return apply


def json_edit(relative: str, change: Callable[[dict], None]) -> Tamper:
    return lambda directory: edit_json(directory / relative, change)


def delete(relative: str) -> Tamper:
    return lambda directory: (directory / relative).unlink()


def array_edit(relative: str, change: Callable[[dict[str, np.ndarray]], None]) -> Tamper:
    return lambda directory: rewrite_arrays(directory / relative, change)


def _shorter(name: str) -> Callable[[dict[str, np.ndarray]], None]:
    return lambda a: a.update({name: a[name][:-1]})


def _as(name: str, dtype: str) -> Callable[[dict[str, np.ndarray]], None]:
    return lambda a: a.update({name: a[name].astype(dtype)})


def _out_of_range(name: str, value: int = 80) -> Callable[[dict[str, np.ndarray]], None]:
    def change(a: dict[str, np.ndarray]) -> None:
        values = a[name].copy()
        values[len(values) // 2] = value  # the shop has 80 items: index 80 does not exist
        a[name] = values

    return change


MODELS = ["collaborative", "complements", "for_you", "next_purchase", "popular", "similar"]

# every kind of damage the issue lists: (tamper, what the message names once the manifest is re-signed:
# None when a re-signed edit is a legitimate-looking change, e.g. an id renamed)
TAMPERING: dict[str, tuple[Tamper, str | None]] = {
    **{f"truncated {m}": (truncate(f"models/{m}/arrays.npz"), f"models/{m}/arrays.npz") for m in MODELS},
    "truncated catalog": (truncate("catalog.npz"), "catalog.npz"),
    "byte flipped in factors": (flip_byte("models/collaborative/arrays.npz"), "models/collaborative/arrays.npz"),
    "byte flipped in ids": (flip_byte("customers.json", 0.5), None),
    "config unknown key": (json_edit("models/popular/config.json", lambda c: c["config"].update(x=1)), "popular"),
    "config wrong type": (
        json_edit("models/collaborative/config.json", lambda c: c["config"].update(factors="many")),
        "collaborative",
    ),
    "config of another model": (
        json_edit("models/similar/config.json", lambda c: c.update(model="popular")),
        "similar",
    ),
    "config missing": (delete("models/complements/config.json"), "models/complements/config.json"),
    "arrays missing": (delete("models/next_purchase/arrays.npz"), "models/next_purchase/arrays.npz"),
    "ids missing": (delete("items.json"), "items.json"),
    "ids not a list": (lambda d: (d / "items.json").write_text('{"ids": []}'), "items.json"),
    "customers edited": (json_edit("customers.json", lambda c: c.append("intruder")), "does not match"),
    "factors one row short": (array_edit("models/collaborative/arrays.npz", _shorter("item_factors")), "collaborative"),
    "scores of the wrong length": (array_edit("models/popular/arrays.npz", _shorter("item_scores")), "popular"),
    "ranking as floats": (array_edit("models/popular/arrays.npz", _as("ranking", "float64")), "popular"),
    "ranking as text": (array_edit("models/popular/arrays.npz", _as("ranking", "U8")), "popular"),
    "sizes edited": (
        array_edit("models/similar/arrays.npz", lambda a: a.update(__shape__=a["__shape__"] + 1)),
        "similar",
    ),
    "popular item out of range": (array_edit("models/popular/arrays.npz", _out_of_range("ranking")), "popular"),
    "similar item out of range": (array_edit("models/similar/arrays.npz", _out_of_range("indices")), "similar"),
    "complement out of range": (array_edit("models/complements/arrays.npz", _out_of_range("indices")), "complements"),
    "repeat item out of range": (
        array_edit("models/next_purchase/arrays.npz", _out_of_range("items")),
        "next_purchase",
    ),
    "negative bought item": (
        array_edit("models/collaborative/arrays.npz", _out_of_range("bought_indices", -1)),
        "collaborative",
    ),
    "category out of range": (array_edit("catalog.npz", _out_of_range("category", 99)), "catalog.npz"),
    "catalog wrong dtype": (array_edit("catalog.npz", _as("price", "U8")), "catalog.npz"),
    "unknown model listed": (json_edit(MANIFEST, lambda m: m["models"].append("oracle")), MANIFEST),
    "required model unlisted": (json_edit(MANIFEST, lambda m: m["models"].remove("popular")), MANIFEST),
    "format edited": (json_edit(MANIFEST, lambda m: m.update(format_version=99)), "format 99"),
    "manifest not an object": (lambda d: (d / MANIFEST).write_text("[]"), MANIFEST),
    "manifest truncated": (truncate(MANIFEST), MANIFEST),
}


def resign_what_exists(directory: Path) -> None:
    """``resign``, tolerating an edited manifest: record whichever listed files exist."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), list):
        return
    names = [f for f in bundle_files(manifest["models"]) if (directory / f).is_file()]
    manifest["files"] = file_digests(directory, names)
    (directory / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("case", TAMPERING)
def test_a_tampered_file_is_refused_by_its_checksum_naming_it(bundle_dir: Path, case: str) -> None:
    tamper, _ = TAMPERING[case]
    recorded = json.loads((bundle_dir / MANIFEST).read_text())["files"]
    tamper(bundle_dir)
    with pytest.raises(ModelFileError) as err:
        ModelBundle.load(bundle_dir)
    changed = [
        name
        for name, digest in recorded.items()
        if not (bundle_dir / name).is_file() or file_digests(bundle_dir, [name])[name] != digest
    ]
    if changed:  # a bundle file changed: the manifest says which, before anything is read
        assert f"{changed[0]} is missing" in str(err.value) or (
            isinstance(err.value, ChecksumMismatchError) and f"{changed[0]} does not match its sha256" in str(err.value)
        )
    else:  # the manifest itself was edited
        assert MANIFEST in str(err.value) or "format 99" in str(err.value)


@pytest.mark.parametrize("case", [c for c, (_, named) in TAMPERING.items() if named])
def test_a_consistent_but_wrong_artifact_is_refused_naming_the_problem(bundle_dir: Path, case: str) -> None:
    """The same damage with the manifest re-signed: the readers' own checks refuse it."""
    tamper, named = TAMPERING[case]
    tamper(bundle_dir)
    resign_what_exists(bundle_dir)
    with pytest.raises(ModelFileError) as err:
        ModelBundle.load(bundle_dir)
    assert named in str(err.value)


def test_a_single_model_directory_is_checked_too(bundle_dir: Path) -> None:
    truncate("models/collaborative/arrays.npz")(bundle_dir)
    with pytest.raises(ModelFileError, match=r"collaborative/arrays\.npz: damaged or truncated"):
        CollaborativeModel.load(bundle_dir / "models" / "collaborative")
    array_edit("models/popular/arrays.npz", _out_of_range("category_items"))(bundle_dir)
    with pytest.raises(ModelFileError, match="popular model file: category lists holds indices outside"):
        PopularModel.load(bundle_dir / "models" / "popular")


def test_an_untouched_bundle_loads_and_answers(bundle_dir: Path) -> None:
    answers_everything(ModelBundle.load(bundle_dir))


# hypothesis: random damage to any file ---------------------------------------------------------------------


@st.composite
def damage(draw: st.DrawFn, files: list[str]) -> tuple[str, str, int, bytes]:
    name = draw(st.sampled_from(files))
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "overwrite"]))
    return name, kind, draw(st.integers(0, 10**9)), draw(st.binary(min_size=1, max_size=8))


def apply_damage(directory: Path, name: str, kind: str, at: int, data: bytes) -> bool:
    """Damage one file; False when the damage happens to change nothing."""
    path = directory / name
    original = path.read_bytes()
    i = at % max(len(original), 1)
    if kind == "flip":
        changed = original[:i] + bytes([original[i] ^ (data[0] or 1)]) + original[i + 1 :]
    elif kind == "truncate":
        changed = original[:i]
    elif kind == "insert":
        changed = original[:i] + data + original[i:]
    else:
        changed = original[:i] + data + original[i + len(data) :]
    path.write_bytes(changed)
    return changed != original


ALL_FILES = [MANIFEST, *bundle_files(MODELS)]


@FAST
@given(hit=damage(ALL_FILES), signed=st.booleans())
def test_random_damage_is_refused_or_harmless(saved: Path, tmp_path_factory, hit, signed: bool) -> None:
    """Damaged anywhere, a bundle is refused with a ModelFileError (by checksum when not re-signed) or, when
    the damage passes every check (a re-signed edit of an id or a score), still loads and answers."""
    directory = Path(shutil.copytree(saved, tmp_path_factory.mktemp("fuzz") / "bundle"))
    name, kind, at, data = hit
    changed = apply_damage(directory, name, kind, at, data)
    if signed and name != MANIFEST:
        resign(directory)
    try:
        bundle = ModelBundle.load(directory)
    except ModelFileError as exc:
        if changed and not signed and name != MANIFEST:
            assert name in str(exc)
        return
    assert not changed or signed or name == MANIFEST
    answers_everything(bundle)


ARRAY_FILES = ["catalog.npz", *(f"models/{m}/arrays.npz" for m in MODELS)]
ODD_INTEGERS = [-2, -1, 0, 79, 80, 199, 200, 2**31 - 1]
ODD_FLOATS = [float("nan"), float("inf"), -float("inf"), 1e30, -1.0, 0.0]


@FAST
@given(
    file=st.sampled_from(ARRAY_FILES),
    pick=st.integers(0, 10**6),
    change=st.sampled_from(["value", "shorter", "longer", "dtype"]),
    value=st.integers(0, 10**6),
)
def test_any_array_edited_and_re_signed_is_refused_or_answers(
    saved: Path, tmp_path_factory: pytest.TempPathFactory, file: str, pick: int, change: str, value: int
) -> None:
    """One array of one file changed (a value, its length or its dtype), manifest re-signed: the bundle is
    refused with a ModelFileError naming the model or file, or it loads and answers every surface."""
    directory = Path(shutil.copytree(saved, tmp_path_factory.mktemp("arrays") / "bundle"))

    def edit(arrays: dict[str, np.ndarray]) -> None:
        name = sorted(arrays)[pick % len(arrays)]
        array = arrays[name].copy()
        if change == "shorter" and array.ndim:
            arrays[name] = array[:-1]
        elif change == "longer" and array.ndim:
            arrays[name] = np.concatenate([array, array[:1]])
        elif change == "dtype" and array.dtype.kind in "iufb":
            arrays[name] = array.astype([np.float32, np.int64, np.int8, np.bool_][value % 4])
        elif array.size and array.dtype.kind in "iuf":
            odd = ODD_INTEGERS if array.dtype.kind in "iu" else ODD_FLOATS
            array.flat[value % array.size] = odd[value % len(odd)]
            arrays[name] = array

    rewrite_arrays(directory / file, edit)
    resign(directory)
    try:
        bundle = ModelBundle.load(directory)
    except ModelFileError as exc:
        assert file.split("/")[-2 if "/" in file else 0] in str(exc)
        return
    with warnings.catch_warnings():  # a NaN or infinity put into the scores warns on its way: that is fine
        warnings.simplefilter("ignore", RuntimeWarning)
        answers_everything(bundle)


def test_null_bytes_in_an_array_header_are_a_model_file_error(tmp_path: Path) -> None:
    """numpy reads a .npy header as a Python literal: null bytes in it raise SyntaxError, then numpy's fallback
    tokenizer a TokenError (found by the random damage above); both are a damaged file."""
    path = tmp_path / "arrays.npz"
    np.savez(path, values=np.zeros((80, 80), dtype=np.float32))
    with zipfile.ZipFile(path) as archive:
        raw = archive.read("values.npy")
    at = raw.index(b"shape") + 3  # the header as the random damage left it: "sha\0\0\0\0\0\080, 80), }"
    damaged = raw[:at] + b"\x00" * 6 + raw[at + 6 :]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("values.npy", damaged)
    with pytest.raises(ModelFileError, match=r"arrays\.npz"):
        read_arrays(path)
