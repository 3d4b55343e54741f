"""``mrekit package``: a pip-installable wheel of a model folder (like ``spacy package``).

The wheel holds one Python package: the model folder as package data (``<name>/model/``)
and ``load()``, which calls ``mrekit.load`` on it, so ``import my_model; nlp =
my_model.load()`` works offline after ``pip install my_model-0.0.1-py3-none-any.whl``.
The model card becomes the package's README. The wheel is built without network:
``pip wheel --no-deps --no-build-isolation --no-index`` with the setuptools installed here.
"""

from __future__ import annotations

import keyword
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from mrekit.cli._ui import cli_errors, console
from mrekit.errors import MrekitError
from mrekit.modelcard import CARD
from mrekit.outputs import atomic_file
from mrekit.predictor import load, model_folder

#: Versions ``--version`` accepts (PEP 440 release, pre, post and dev parts).
_VERSION = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")

_INIT = '''"""{name}: an mrekit model packaged with ``mrekit package``.

Example:
    >>> import {name}
    >>> nlp = {name}.load()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import mrekit

__version__ = "{version}"
#: The model folder inside the installed package.
MODEL_PATH = Path(__file__).parent / "model"


def load(**options):
    """Load the packaged model (options go to ``mrekit.load``: backend, threads, device)."""
    return mrekit.load(MODEL_PATH, **options)
'''

_PYPROJECT = """[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
description = "An mrekit model ({engine} engine), packaged with mrekit package"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["mrekit"]

[tool.setuptools]
packages = ["{name}"]
include-package-data = false

[tool.setuptools.package-data]
{name} = ["model/*", "model/**/*"]
"""


def package_name(model: str | Path) -> str:
    """The package name derived from a model folder (``runs/snips/model-best`` -> ``snips``).

    Example:
        >>> package_name("runs/snips/model-best"), package_name("models/My Model-v2"), package_name("3x")
        ('snips', 'my_model_v2', 'model_3x')
    """
    path = Path(model)
    stem = path.parent.name if path.name == "model-best" and path.parent.name else path.name
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", stem).strip("_").lower() or "mrekit_model"
    if name[0].isdigit():
        name = f"model_{name}"
    if keyword.iskeyword(name) or name == "mrekit":
        name = f"{name}_model"
    return name


def check_package_options(name: str, version: str) -> None:
    """Refuse a package name that is not a Python identifier (or is ``mrekit``) and a non-PEP 440 version.

    Raises:
        MrekitError: ``E210`` naming the option.

    Example:
        >>> try:
        ...     check_package_options("my-model", "0.0.1")
        ... except MrekitError as err:
        ...     print(err.code, err.message, err.hint)
        E210 'my-model' is not a Python package name use letters, digits and _, e.g. my_model
    """
    if not name.isidentifier() or keyword.iskeyword(name) or name == "mrekit" or not name.isascii():
        raise MrekitError(
            "E210",
            f"{name!r} is not a Python package name",
            field="name",
            hint="use letters, digits and _, e.g. " + (re.sub(r"\W+", "_", name).strip("_") or "my_model"),
        )
    if not _VERSION.match(version):
        raise MrekitError("E210", f"{version!r} is not a version such as 0.0.1", field="version")


def package(
    model: str | Path,
    out: str | Path,
    *,
    name: str | None = None,
    version: str = "0.0.1",
    overwrite: bool = False,
) -> Path:
    """Build a wheel of ``model`` into the folder ``out``; returns the wheel's path.

    The model is loaded first, so a folder that fails its hash checks is never packaged.

    Raises:
        MrekitError: ``E210`` for a bad name or version; ``E211`` when pip fails to
            build the wheel; ``E170`` for an existing wheel without ``overwrite``; the
            loading errors of the model (``E100``, ``E181``, ``E188``, ...).

    Example:
        >>> package("runs/snips/model-best", "dist", name="snips_model")  # doctest: +SKIP
        PosixPath('dist/snips_model-0.0.1-py3-none-any.whl')
    """
    folder = model_folder(model)
    name = name or package_name(folder)
    check_package_options(name, version)
    engine = load(folder).info().get("engine") or "encoder"
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="mrekit-package-") as tmp:
        wheel = _build(folder, Path(tmp), name=name, version=version, engine=engine)
        target = out / wheel.name  # the name pip gave it: it must match the metadata inside
        # atomic_file refuses an existing wheel (E170) unless overwrite, and makes the folder.
        with atomic_file(target, overwrite=overwrite, binary=True) as fh, wheel.open("rb") as src:
            shutil.copyfileobj(src, fh)
    return target


def _build(folder: Path, tmp: Path, *, name: str, version: str, engine: str) -> Path:
    """Write the project into ``tmp/src`` and build its wheel into ``tmp/dist``."""
    source = tmp / "src"
    (source / name).mkdir(parents=True)
    shutil.copytree(folder, source / name / "model", ignore=shutil.ignore_patterns(".*"))
    (source / name / "__init__.py").write_text(_INIT.format(name=name, version=version), encoding="utf-8")
    (source / "pyproject.toml").write_text(
        _PYPROJECT.format(name=name, version=version, engine=engine), encoding="utf-8"
    )
    card = folder / CARD
    readme = card.read_text(encoding="utf-8") if card.is_file() else f"# {name}\n\nAn mrekit model.\n"
    (source / "README.md").write_text(readme, encoding="utf-8")
    dist = tmp / "dist"
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    command += ["--disable-pip-version-check", "-q", "-w", str(dist), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(dist.glob("*.whl")) if dist.is_dir() else []
    if result.returncode != 0 or len(wheels) != 1:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
        raise MrekitError("E211", f"pip wheel failed: {tail or 'no wheel written'}", hint="is setuptools installed?")
    return wheels[0]


def command(
    model: Annotated[Path, typer.Argument(help="Model folder (or a training output folder holding model-best).")],
    out: Annotated[Path, typer.Argument(help="Folder to write the wheel into.")],
    name: Annotated[
        str | None, typer.Option(help="Python package name (default: from the model folder's name).")
    ] = None,
    version: Annotated[str, typer.Option("--version", help="Package version.")] = "0.0.1",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing wheel of this name and version.")] = False,
) -> None:
    """Build a pip-installable wheel of a model: import it and call load().

    Example:
        mrekit package runs/snips/model-best dist --name snips_model
        pip install dist/snips_model-0.0.1-py3-none-any.whl
        python -c "import snips_model; print(snips_model.load()('play muse').labels)"
    """
    wheel = cli_errors(package)(model, out, name=name, version=version, overwrite=overwrite)
    console.print(f"[green]✔[/] wrote {wheel}", highlight=False)
    console.print(f"  pip install {wheel}", highlight=False)
