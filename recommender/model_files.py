"""Reading saved model files back, and refusing damaged or tampered ones with a message naming the file.

- ``read_arrays`` reads an ``.npz`` without pickle (an object array is refused), ``read_json`` /
  ``read_json_object`` read a JSON file: any damage (truncation, flipped bytes, bad encoding) becomes a
  ``ModelFileError`` naming the file;
- ``file_digests`` / ``verify_digests``: the sha256 of every file of a saved bundle, written into its
  manifest at save time and checked at load time (``ChecksumMismatchError`` names the changed file);
- the checks every model's ``_load_state`` shares: ``require_arrays`` names what a model file lacks,
  ``check_indices`` refuses item or customer indices out of range, ``load_pattern`` rebuilds a stored
  binary CSR pattern (e.g. what each customer bought) and refuses one that does not fit the model's shape.
"""

from __future__ import annotations

import hashlib
import json
import re
import tokenize
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import numpy as np
import scipy.sparse as sp

from recommender.errors import ModelFileError

_SHA256 = re.compile(r"[0-9a-f]{64}")
# what reading a damaged .npz can raise: zip damage, truncation, a bad .npy header (numpy parses it as a
# Python literal: null bytes raise SyntaxError, then its fallback tokenizer TokenError), a huge declared shape
_NPZ_ERRORS = (
    OSError,
    SyntaxError,
    tokenize.TokenError,
    EOFError,
    ValueError,
    KeyError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    MemoryError,
)


class ChecksumMismatchError(ModelFileError):
    """A file of a saved bundle differs from the sha256 its manifest recorded: changed or damaged."""


# reading files ---------------------------------------------------------------------------------------------


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read with ``allow_pickle=False``; ``ModelFileError`` names any damage."""
    if not path.is_file():
        raise ModelFileError(f"{path}: missing")
    arrays: dict[str, np.ndarray] = {}
    name = None
    try:
        with np.load(path, allow_pickle=False) as npz:
            for name in npz.files:
                arrays[name] = npz[name]
    except _NPZ_ERRORS as exc:
        where = f"{path} (array {name!r})" if name is not None else str(path)
        if "allow_pickle" in str(exc):
            raise ModelFileError(f"{where}: holds an object array, which only pickle could load: refused") from exc
        raise ModelFileError(f"{where}: damaged or truncated array file: {exc}") from exc
    return arrays


def read_json(path: Path) -> object:
    """The parsed content of a JSON file; ``ModelFileError`` names a missing, non-UTF-8 or malformed file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path}: missing") from exc
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelFileError(f"{path}: not a readable JSON file: {exc}") from exc


def read_json_object(path: Path) -> dict[str, object]:
    """``read_json`` of a file that must hold a JSON object."""
    content = read_json(path)
    if not isinstance(content, dict):
        raise ModelFileError(f"{path}: expected a JSON object, found {type(content).__name__}")
    return content


# checksums -------------------------------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    """The sha256 of a file, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_digests(directory: Path, names: Iterable[str]) -> dict[str, str]:
    """``{name: sha256}`` of files under ``directory`` (names are relative, with ``/``)."""
    return {name: file_digest(directory / name) for name in sorted(names)}


def verify_digests(directory: Path, recorded: object, required: Iterable[str]) -> None:
    """Check every file ``recorded`` (``{relative name: sha256}``, from a manifest) against its content.

    Raises ``ModelFileError`` when the record is malformed, does not cover a ``required`` file, or names
    a missing file, and ``ChecksumMismatchError`` naming the first file whose content changed.
    """
    if not isinstance(recorded, dict) or not all(
        isinstance(name, str) and isinstance(digest, str) and _SHA256.fullmatch(digest)
        for name, digest in recorded.items()
    ):
        raise ModelFileError(f"{directory}: manifest.json has no valid 'files' checksums")
    unlisted = sorted(set(required) - set(recorded))
    if unlisted:
        raise ModelFileError(f"{directory}: manifest.json does not list {', '.join(unlisted)}")
    for name, digest in recorded.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise ModelFileError(f"{directory}: manifest.json lists a file outside the bundle: {name!r}")
        path = directory / relative
        if not path.is_file():
            raise ModelFileError(f"{directory}: {name} is missing")
        if file_digest(path) != digest:
            raise ChecksumMismatchError(
                f"{directory}: {name} does not match its sha256 in manifest.json (changed or damaged since saved)"
            )


# checks shared by the models' _load_state --------------------------------------------------------------------


def require_arrays(model: str, arrays: dict[str, np.ndarray], names: list[str]) -> None:
    """Raise ``ModelFileError`` naming the arrays a saved model lacks."""
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ModelFileError(f"{model} model file lacks array(s) {', '.join(missing)}")


def require_length(model: str, name: str, values: np.ndarray, length: int) -> None:
    """Refuse a per-item (or per-customer) array that is not one-dimensional of ``length`` values."""
    if values.shape != (length,):
        raise ModelFileError(f"{model} model file: {name} has shape {values.shape}, expected ({length},)")


def check_indices(model: str, name: str, values: np.ndarray, limit: int, *, missing_ok: bool = False) -> None:
    """Refuse an index array that is not integer or holds a value outside ``[0, limit)`` (``-1`` allowed
    when ``missing_ok``): an item or customer index out of range would fail, or answer garbage, later."""
    low = -1 if missing_ok else 0
    if not (np.issubdtype(values.dtype, np.integer) or values.size == 0):
        raise ModelFileError(f"{model} model file: {name} has dtype {values.dtype}, expected integer indices")
    if values.size and (int(values.min()) < low or int(values.max()) >= limit):
        raise ModelFileError(f"{model} model file: {name} holds indices outside [{low}, {limit})")


def pattern_matrix(indptr: np.ndarray, indices: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A binary CSR matrix from a stored (indptr, indices) pattern."""
    data = np.ones(len(indices), dtype=np.float32)
    return sp.csr_matrix((data, indices.astype(np.int32), indptr.astype(np.int64)), shape=shape)


def check_csr(model: str, name: str, indptr: np.ndarray, indices: np.ndarray, shape: tuple[int, int]) -> None:
    """Refuse a stored CSR structure (``indptr``, ``indices``) that does not describe a ``shape`` matrix."""
    consistent = (
        indptr.ndim == 1
        and len(indptr) == shape[0] + 1 > 0
        and np.issubdtype(indptr.dtype, np.integer)
        and int(indptr[0]) == 0
        and int(indptr[-1]) == len(indices)
        and bool(np.all(np.diff(indptr) >= 0))
    )
    if not consistent:
        raise ModelFileError(f"{model} model file: {name} does not describe a matrix of shape {shape}")
    check_indices(model, name, indices, shape[1])


def load_pattern(model: str, indptr: np.ndarray, indices: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """``pattern_matrix`` from a model file, refusing arrays that do not describe a ``shape`` matrix."""
    check_csr(model, "a sparse pattern", indptr, indices, shape)
    return pattern_matrix(indptr, indices, shape)
