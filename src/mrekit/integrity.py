"""Safe reading of model folders: regular files of sane size, recorded hashes, no custom code.

One place for what every engine checks before it hands a folder to ``transformers``,
``safetensors`` or ONNX Runtime:

* :func:`open_regular` opens a file without blocking (a FIFO or a link to ``/dev/zero``
  is refused, ``E187``) and caps its size (:data:`MAX_FILE_BYTES`), so hashing ends;
* :func:`hash_folder` records a SHA-256 for every file of a model folder at save time and
  :func:`verify_files` checks them at load: a changed, missing or added file is refused
  naming the file (``E188`` unless the engine keeps its own code);
* :func:`check_hf_folder` vets a plain Hugging Face folder (``--encoder DIR``, a
  pretrained generative model, a masked LM): no ``auto_map`` or other request to run the
  folder's own code (``E185``), safetensors weights only (``E186``), and a configuration
  within :data:`CONFIG_LIMITS` (``E187``), all before anything is built.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from mrekit.errors import MrekitError

#: The largest file of a model folder that is read at all (20 GiB).
MAX_FILE_BYTES = 20 * 2**30
#: The largest JSON file (configuration, manifest) that is parsed.
MAX_JSON_BYTES = 64 * 2**20
#: Upper bounds on the sizes a configuration may ask for, by the keys architectures use for them.
CONFIG_LIMITS: dict[str, tuple[tuple[str, ...], int]] = {
    "layers": (
        ("num_hidden_layers", "num_layers", "num_decoder_layers", "n_layer", "n_layers")
        + ("encoder_layers", "decoder_layers"),
        512,
    ),
    "width": (("hidden_size", "d_model", "n_embd", "dim", "d_kv"), 65_536),
    "feed_forward": (
        ("intermediate_size", "d_ff", "n_inner", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim", "hidden_dim"),
        262_144,
    ),
    "vocabulary": (("vocab_size", "type_vocab_size"), 4_194_304),
    "positions": (("max_position_embeddings", "n_positions", "n_ctx", "max_seq_len"), 4_194_304),
    "heads": (
        ("num_attention_heads", "num_heads", "n_head", "n_heads", "num_key_value_heads")
        + ("encoder_attention_heads", "decoder_attention_heads", "relative_attention_num_buckets"),
        4_096,
    ),
}
#: JSON files of a Hugging Face folder that may ask for the folder's own code to run.
CODE_CONFIGS = (
    "config.json",
    "tokenizer_config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "feature_extractor_config.json",
)
#: Keys that make ``transformers`` import Python files shipped with a model.
CODE_KEYS = ("auto_map", "custom_pipelines")
#: Weight files that only a pickle loader reads; never loaded.
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.pickle", "*.h5", "*.msgpack")
CONVERT_HINT = (
    'convert the weights once, on a trusted machine: python -c "import torch; '
    "from safetensors.torch import save_file; save_file({k: v.contiguous() for k, v in "
    "torch.load('pytorch_model.bin', weights_only=True).items()}, 'model.safetensors')\""
)
_HEX64 = re.compile(r"[0-9a-f]{64}")


def open_regular(path: str | Path, *, limit: int | None = None) -> BinaryIO:
    """Open ``path`` for binary reading, refusing special files and oversized ones before reading.

    The file is opened without blocking (a FIFO would otherwise wait forever) and checked on
    the open descriptor, so a link swapped in between is caught too.

    Raises:
        MrekitError: ``E187`` for a special file (device, FIFO, socket, folder) or one over
            ``limit`` bytes (default :data:`MAX_FILE_BYTES`); ``E188`` when it cannot be opened.

    Example:
        >>> open_regular("/dev/zero")
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E187] /dev/zero: not a regular file (a character device); it is not read
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except IsADirectoryError:
        raise MrekitError("E187", "a folder where a file is expected", path=path) from None
    except OSError as err:
        raise MrekitError("E188", f"cannot be read ({err.strerror or err})", path=path) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise MrekitError("E187", f"not a regular file ({_kind(info.st_mode)}); it is not read", path=path)
        if info.st_size > limit:
            raise MrekitError("E187", f"{info.st_size} bytes, more than the {limit} a model file may have", path=path)
        if flags & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "a special file"


def check_regular(path: str | Path, *, limit: int | None = None) -> int:
    """The size of ``path`` after checking, without opening it, that it is a regular file within ``limit``.

    Raises:
        MrekitError: as :func:`open_regular`.
    """
    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        info = os.stat(path)
    except OSError as err:
        raise MrekitError("E188", f"cannot be read ({err.strerror or err})", path=path) from None
    if not stat.S_ISREG(info.st_mode):
        raise MrekitError("E187", f"not a regular file ({_kind(info.st_mode)}); it is not read", path=path)
    if info.st_size > limit:
        raise MrekitError("E187", f"{info.st_size} bytes, more than the {limit} a model file may have", path=path)
    return info.st_size


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a regular file, read in chunks and never past :data:`MAX_FILE_BYTES`.

    Raises:
        MrekitError: as :func:`open_regular`, also when the file grows past the limit while read.
    """
    digest = hashlib.sha256()
    total = 0
    with open_regular(path) as fh:
        while block := fh.read(chunk):
            total += len(block)
            if total > MAX_FILE_BYTES:
                raise MrekitError("E187", f"grew past the {MAX_FILE_BYTES} bytes a model file may have", path=path)
            digest.update(block)
    return digest.hexdigest()


def read_json(path: str | Path, *, code: str = "E188") -> Any:
    """Parse a JSON file of a model folder, with a coded error (``code``) for anything malformed.

    Raises:
        MrekitError: ``E187`` for a special or oversized file; ``code`` when it is not UTF-8 JSON.
    """
    with open_regular(path, limit=MAX_JSON_BYTES) as fh:
        data = fh.read(MAX_JSON_BYTES + 1)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MrekitError(code, "not UTF-8 text, so not a JSON file", path=path) from None
    except json.JSONDecodeError as err:
        raise MrekitError(code, f"not valid JSON ({err.msg})", path=path, line=err.lineno) from None


def canonical_sha256(data: Any) -> str:
    """SHA-256 of JSON data written canonically (sorted keys), for manifest fields.

    Example:
        >>> canonical_sha256({"b": 1, "a": [2]}) == canonical_sha256({"a": [2], "b": 1})
        True
    """
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def folder_files(folder: str | Path, *, skip: tuple[str, ...] = ()) -> list[str]:
    """Relative paths of the files under ``folder`` that loaders may read, sorted.

    Names beginning with a dot (mrekit's output marker, temporary files) are left out: no
    loader reads them. Links to folders are refused (``E187``), since what they hold is not
    part of the folder's record.
    """
    root = Path(folder)
    found = []
    for here, dirs, files in os.walk(root):
        base = Path(here)
        for name in list(dirs):
            if (base / name).is_symlink():
                raise MrekitError("E187", "a link to a folder inside a model folder; it is not read", path=base / name)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            rel = (base / name).relative_to(root).as_posix()
            if not name.startswith(".") and rel not in skip:
                found.append(rel)
    return sorted(found)


def hash_folder(folder: str | Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """``{relative path: SHA-256}`` of every file :func:`folder_files` lists.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.txt").write_text("a")
        >>> hash_folder(folder)["a.txt"][:12]
        'ca978112ca1b'
    """
    return {name: sha256_file(Path(folder) / name) for name in folder_files(folder, skip=skip)}


def check_file_map(files: Any, manifest_path: str | Path, *, code: str = "E181") -> dict[str, str]:
    """Check the shape of a manifest's ``files`` map: safe relative paths to hex SHA-256s.

    Raises:
        MrekitError: ``code`` (a manifest error) naming the bad entry.
    """
    if not isinstance(files, dict) or not files:
        raise MrekitError(code, "the manifest's 'files' is not a map of file hashes", path=manifest_path, field="files")
    for name, digest in files.items():
        parts = Path(name).parts
        if not name or name.startswith("/") or "\\" in name or ".." in parts or name != Path(name).as_posix():
            raise MrekitError(code, f"the manifest names an unsafe path {name!r}", path=manifest_path, field="files")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise MrekitError(code, f"the hash of {name!r} is not a SHA-256", path=manifest_path, field="files")
    return files


def verify_files(
    folder: str | Path,
    files: Mapping[str, str],
    *,
    include: Callable[[str], bool] | None = None,
    complete: bool = True,
    skip: tuple[str, ...] = (),
    code: str = "E188",
    codes: Mapping[str, str] | None = None,
) -> None:
    """Check a folder's files against the hashes its manifest recorded at save time.

    Args:
        folder: The model folder.
        files: ``{relative path: SHA-256}`` from the manifest (see :func:`check_file_map`).
        include: Check only the recorded files it accepts (others are checked when used).
        complete: Also refuse files that are present but not recorded (added after saving).
        skip: Files that are not recorded by design (the manifest itself).
        code: Error code for a changed, missing or added file.
        codes: Other codes for particular files (``{"model.safetensors": "E182"}``).

    Raises:
        MrekitError: ``code`` naming the first file that differs; ``E187`` for a special or
            oversized file (checked before any file is hashed).
    """
    root = Path(folder)
    codes = codes or {}
    if complete:
        extra = [name for name in folder_files(root, skip=skip) if name not in files]
        if extra:
            raise MrekitError(
                codes.get(extra[0], code),
                f"{extra[0]} was added after saving (the manifest does not record it)",
                path=root / extra[0],
                hint="remove it or re-save the model",
            )
    names = [name for name in sorted(files) if include is None or include(name)]
    for name in names:
        if not (root / name).exists() and not (root / name).is_symlink():
            raise MrekitError(
                codes.get(name, code), f"{name} is missing", path=root / name, hint="restore it or re-save the model"
            )
        check_regular(root / name)
    for name in names:
        if sha256_file(root / name) != files[name]:
            raise MrekitError(
                codes.get(name, code),
                f"{name} differs from the hash recorded in the manifest (changed after saving)",
                path=root / name,
                hint="restore the file or re-save the model",
            )


def _find_keys(data: Any, keys: tuple[str, ...], depth: int = 0) -> str | None:
    if depth > 8:
        return None
    if isinstance(data, dict):
        for key, value in data.items():
            if key in keys:
                return key
            if isinstance(value, str) and value.endswith(".py"):
                return key
            found = _find_keys(value, keys, depth + 1)
            if found:
                return found
    elif isinstance(data, list):
        for value in data:
            found = _find_keys(value, keys, depth + 1)
            if found:
                return found
    return None


def check_no_remote_code(folder: str | Path) -> None:
    """Refuse a folder whose configuration asks ``transformers`` to run code shipped with it.

    Raises:
        MrekitError: ``E185`` naming the file and key (``auto_map``, ``custom_pipelines``
            or a reference to a ``.py`` file).
    """
    root = Path(folder)
    for name in CODE_CONFIGS:
        path = root / name
        if not path.exists() and not path.is_symlink():
            continue
        key = _find_keys(read_json(path), CODE_KEYS)
        if key:
            code_files = sorted(p.name for p in root.glob("*.py"))
            shipped = f"; the folder ships {', '.join(code_files)}" if code_files else ""
            raise MrekitError(
                "E185",
                f"{name} asks to run the folder's own code ({key!r}){shipped}; mrekit never runs it",
                path=path,
                hint="use a model whose architecture transformers itself provides, without auto_map",
            )


def check_config(config: Any, path: str | Path, *, weights_bytes: int | None = None) -> None:
    """Refuse a model configuration that asks for absurd sizes, before anything is built.

    Args:
        config: The parsed ``config.json``.
        path: Where it came from, for the error.
        weights_bytes: Total size of the weights, when known: a configuration whose
            parameter count could not fit in them is refused too.

    Raises:
        MrekitError: ``E187`` naming the key; ``E188`` when ``config`` is not a JSON object.

    Example:
        >>> check_config({"num_hidden_layers": 100000}, "config.json")
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E187] config.json field 'num_hidden_layers': 100000 is out of range (at most 512)
    """
    if not isinstance(config, dict):
        raise MrekitError("E188", "the configuration is not a JSON object", path=path)
    _check_sizes(config, path, 0)
    if weights_bytes is not None:
        estimate = _estimate_parameters(config)
        # Generous on purpose: shared layers (ALBERT) or rotary positions make the estimate high.
        if estimate > 8 * weights_bytes + 50_000_000:
            raise MrekitError(
                "E187",
                f"the configuration asks for about {estimate:,} parameters, far more than its "
                f"{weights_bytes:,} bytes of weights hold",
                path=path,
            )


def _check_sizes(config: dict[str, Any], path: str | Path, depth: int) -> None:
    for keys, limit in CONFIG_LIMITS.values():
        for key in keys:
            value = config.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise MrekitError("E187", f"{value!r} is not a whole number", path=path, field=key)
            if not 0 <= value <= limit:
                raise MrekitError("E187", f"{value} is out of range (at most {limit})", path=path, field=key)
    if depth < 4:
        for value in config.values():
            if isinstance(value, dict):
                _check_sizes(value, path, depth + 1)


def _first(config: dict[str, Any], keys: tuple[str, ...], default: int = 0) -> int:
    values = [config[k] for k in keys if isinstance(config.get(k), int)]
    return max(values) if values else default


def _estimate_parameters(config: dict[str, Any], depth: int = 0) -> int:
    width = _first(config, ("hidden_size", "d_model", "n_embd", "dim"))
    encoder = _first(config, ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "encoder_layers"))
    decoder = _first(config, ("num_decoder_layers", "decoder_layers"))
    ffn = _first(config, CONFIG_LIMITS["feed_forward"][0], 4 * width)
    tokens = _first(config, ("vocab_size",)) + _first(config, CONFIG_LIMITS["positions"][0])
    total = (encoder + decoder) * (4 * width * width + 2 * width * ffn) + tokens * width
    if depth < 4:
        total += sum(_estimate_parameters(v, depth + 1) for v in config.values() if isinstance(v, dict))
    return total


def check_hf_folder(folder: str | Path, *, code: str = "E181") -> Path:
    """Vet a local Hugging Face model folder before ``transformers`` reads anything in it.

    Checks, in order: every top-level file is a regular file of sane size (``E187``); no
    configuration asks for the folder's own code (``E185``); ``config.json`` is JSON (``E188``)
    and within :data:`CONFIG_LIMITS` and the weights' size (``E187``); the weights are
    safetensors (``E186`` for pickle-only weights, ``code`` for none at all).

    Raises:
        MrekitError: ``E100`` for a missing folder or one without ``config.json``, else as above.
    """
    root = Path(folder)
    if not (root / "config.json").exists() and not (root / "config.json").is_symlink():
        raise MrekitError("E100", "not a local Hugging Face model folder (no config.json)", path=root)
    for entry in sorted(root.iterdir()):
        if not entry.is_dir():
            check_regular(entry)
    check_no_remote_code(root)
    weights = sorted(root.glob("*.safetensors"))
    if not weights:
        pickled = sorted({p.name for pattern in PICKLE_WEIGHTS for p in root.glob(pattern)})
        if pickled:
            raise MrekitError(
                "E186",
                f"the weights are {', '.join(pickled)}, a pickle-based format that mrekit never loads",
                path=root / pickled[0],
                hint=CONVERT_HINT,
            )
        raise MrekitError(code, "no *.safetensors weights in the model folder", path=root)
    check_config(read_json(root / "config.json"), root / "config.json", weights_bytes=sum(map(check_regular, weights)))
    return root


@contextlib.contextmanager
def reading(path: str | Path, *, code: str = "E188", what: str = "the model files") -> Iterator[None]:
    """Turn any error a third-party loader raises on a bad file into a coded ``MrekitError``.

    Example:
        >>> with reading("tok.json", what="the tokenizer"):
        ...     raise ValueError("expected value")
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E188] tok.json: the tokenizer cannot be read (ValueError: expected value)
    """
    try:
        yield
    except MrekitError:
        raise
    except Exception as err:  # noqa: BLE001 - loaders raise anything (tokenizers raises plain Exception)
        detail = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
        raise MrekitError(code, f"{what} cannot be read ({type(err).__name__}: {detail})", path=path) from None
