"""Model folders are data, never code: issue 12 items 4, 7, 8, 14 (model part) and 18.

Every test tampers with a copy of a tiny model folder (built here, no download) the way
an attacker or a broken disk would, and checks that loading refuses it with a coded error
naming the file, quickly, without running or unpickling anything.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest
import torch

import mrekit
from mrekit import MrekitError
from mrekit.encoder.backbone import load_encoder
from mrekit.encoder.joint import JointConfig, JointModel
from mrekit.encoder.serialization import FORMAT_VERSION, load_model, save_model
from mrekit.integrity import canonical_sha256, hash_folder

TINY_T5 = {"vocab_size": 400, "d_model": 32, "d_ff": 64, "num_layers": 1, "num_heads": 2, "dropout": 0.0}


def _code(call, *args, **kwargs) -> MrekitError:
    with pytest.raises(MrekitError) as err:
        call(*args, **kwargs)
    return err.value


def _quick(call, *args, limit: float = 60.0) -> MrekitError:
    """The error ``call`` raises, failing the test if it does not return within ``limit`` seconds."""
    box: dict = {}

    def run() -> None:
        try:
            call(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"{call.__name__} hung on a tampered folder"
    assert isinstance(box.get("error"), MrekitError), box.get("error")
    return box["error"]


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _rehash(folder: Path, *, settings: tuple[str, ...] = ("config",)) -> None:
    """Re-record every hash in the manifest, as a careful attacker would: only checks beyond hashes remain."""
    manifest_path = folder / "mrekit.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"] = hash_folder(folder, skip=("mrekit.json",))
    if settings == ("config",):
        manifest["config_sha256"] = canonical_sha256(manifest["config"])
    else:
        manifest["config_sha256"] = canonical_sha256({key: manifest.get(key) for key in settings})
    manifest_path.write_text(json.dumps(manifest))


def _copy(folder: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target, symlinks=True)
    return target


# --- fixtures: tiny models written here ------------------------------------------------------------------


def _joint(tiny_encoder, seed: int) -> tuple[JointModel, object]:
    encoder, tokenizer = load_encoder(tiny_encoder)
    torch.manual_seed(seed)
    return JointModel(JointConfig(text_labels=["A", "B"], span_labels=["x"]), encoder), tokenizer


@pytest.fixture(scope="module")
def saved(tiny_encoder, tmp_path_factory) -> Path:
    """An untrained joint model saved to a folder (no export)."""
    model, tokenizer = _joint(tiny_encoder, 0)
    return save_model(model, tokenizer, tmp_path_factory.mktemp("saved") / "model")


@pytest.fixture(scope="module")
def exported(tiny_encoder, tmp_path_factory) -> tuple[Path, Path]:
    """Two different tiny models, each saved and exported to ONNX (fp32 and int8)."""
    pytest.importorskip("onnxruntime")
    from mrekit.encoder.onnx import export_onnx

    folders = []
    for seed in (1, 2):
        model, tokenizer = _joint(tiny_encoder, seed)
        folder = save_model(model, tokenizer, tmp_path_factory.mktemp(f"onnx{seed}") / "model")
        export_onnx(model, folder, quantize=True)
        folders.append(folder)
    return folders[0], folders[1]


@pytest.fixture
def evil_encoder(tiny_encoder, tmp_path) -> tuple[Path, Path]:
    """A Hugging Face folder asking for its own code, which would leave a sentinel file if it ran."""
    folder = _copy(tiny_encoder, tmp_path, "evil")
    sentinel = tmp_path / "code-ran"
    (folder / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(sentinel)!r}).write_text('ran')\n"
        "from transformers import BertConfig, BertModel\n"
        "class EvilConfig(BertConfig):\n    model_type = 'evil'\n"
        "class EvilModel(BertModel):\n    config_class = EvilConfig\n"
    )
    return folder, sentinel


@pytest.fixture(scope="module")
def mlm_folder(tiny_encoder, tmp_path_factory) -> Path:
    """A tiny masked LM (safetensors) with the tiny encoder's tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    folder = tmp_path_factory.mktemp("mlm")
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig.from_pretrained(tiny_encoder)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def generative(tmp_path_factory) -> Path:
    """An untrained tiny T5 generative model, saved."""
    from mrekit.datasets import load_builtin
    from mrekit.generative import GenerativeModel

    model = GenerativeModel(scratch=TINY_T5).initialize(load_builtin("snips", "train")[:12])
    return model.save(tmp_path_factory.mktemp("gen") / "model")


@pytest.fixture(scope="module")
def causal_folder(tmp_path_factory, tiny_encoder) -> Path:
    """A random tiny GPT-2 Hugging Face folder (safetensors), as a 'pretrained' generative base."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("gpt2")
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)
    tokenizer.save_pretrained(folder)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=64)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def _load_generative(folder):
    from mrekit.generative.serialization import load_generative

    return load_generative(folder)


def _load_pretrained(folder):
    from mrekit.generative.modeling import load_pretrained

    return load_pretrained(folder)


def _masked_lm(folder):
    from mrekit.fewshot.scorers import MaskedLMScorer

    return MaskedLMScorer(folder)


# --- item 4: a folder never gets its own code run -----------------------------------------------------------


@pytest.mark.parametrize("where", ["config.json", "tokenizer_config.json"])
def test_encoder_folder_asking_for_its_own_code_is_refused_and_nothing_runs(evil_encoder, where):
    folder, sentinel = evil_encoder
    auto_map = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel", "AutoTokenizer": ["evil.T", None]}
    _edit_json(folder / where, auto_map=auto_map)
    for loader in (load_encoder, _masked_lm, _load_pretrained):
        err = _code(loader, folder)
        assert err.code == "E185" and where in err.message and "evil.py" in err.message
    assert not sentinel.exists()


def test_saved_model_asking_for_its_own_code_is_refused_before_anything_is_read(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    sentinel = tmp_path / "code-ran"
    (folder / "encoder" / "evil.py").write_text(f"open({str(sentinel)!r}, 'w').write('ran')\n")
    _edit_json(folder / "encoder" / "config.json", auto_map={"AutoModel": "evil.EvilModel"})
    _rehash(folder)  # even with every hash re-recorded
    err = _code(mrekit.load, folder)
    assert err.code == "E185" and err.path.endswith("config.json")
    assert not sentinel.exists()


def test_generative_folders_asking_for_their_own_code_are_refused(generative, tmp_path):
    folder = _copy(generative, tmp_path)
    _edit_json(folder / "tokenizer" / "tokenizer_config.json", auto_map={"AutoTokenizer": ["x.Tok", None]})
    assert _code(mrekit.load, folder).code == "E185"


def test_trust_remote_code_is_always_false(monkeypatch, tiny_encoder, saved, mlm_folder, causal_folder, generative):
    import transformers

    calls: list[tuple[str, object]] = []
    names = ("AutoConfig", "AutoTokenizer", "AutoModel", "AutoModelForMaskedLM")
    for cls_name in names + ("AutoModelForCausalLM", "AutoModelForSeq2SeqLM"):
        cls = getattr(transformers, cls_name)
        for method in ("from_pretrained", "from_config"):
            if not hasattr(cls, method):
                continue
            original = getattr(cls, method)

            def spy(*args, _original=original, _name=f"{cls_name}.{method}", **kwargs):
                calls.append((_name, kwargs.get("trust_remote_code", "not passed")))
                return _original(*args, **kwargs)

            monkeypatch.setattr(cls, method, spy)
    load_encoder(tiny_encoder, num_layers=1)
    load_model(saved)
    _masked_lm(mlm_folder)
    _load_pretrained(causal_folder)
    _load_generative(generative)
    assert {name.split(".")[0] for name, _ in calls} >= {"AutoConfig", "AutoTokenizer", "AutoModel"}
    assert [(name, value) for name, value in calls if value is not False] == []


# --- item 8: pickled weights are never loaded -------------------------------------------------------------


@pytest.mark.parametrize("loader", [load_encoder, _masked_lm, _load_pretrained])
def test_pickle_only_weights_are_refused_without_unpickling(tiny_encoder, tmp_path, monkeypatch, loader):
    folder = _copy(tiny_encoder, tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04\x95cposix\nsystem\n(S'touch /tmp/pwned'\ntR." * 10)
    loaded = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loaded.append(a) or {})
    err = _code(loader, folder)
    assert err.code == "E186" and err.path.endswith("pytorch_model.bin")
    assert "safetensors.torch import save_file" in err.hint
    assert loaded == []


# --- item 18: no hangs on special files or absurd configurations ------------------------------------------


def test_weights_linked_to_dev_zero_are_refused_quickly(saved, tiny_encoder, generative, tmp_path):
    folder = _copy(saved, tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").symlink_to("/dev/zero")
    err = _quick(load_model, folder)
    assert err.code == "E187" and "character device" in err.message and err.path.endswith("model.safetensors")
    plain = _copy(tiny_encoder, tmp_path, "plain")
    (plain / "model.safetensors").unlink()
    (plain / "model.safetensors").symlink_to("/dev/zero")
    assert _quick(load_encoder, plain).code == "E187"
    gen = _copy(generative, tmp_path, "gen")
    weights = next((gen / "model").glob("*.safetensors"))
    weights.unlink()
    weights.symlink_to("/dev/zero")
    assert _quick(_load_generative, gen).code == "E187"


@pytest.mark.parametrize("name", ["tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json", "mrekit.json"])
def test_fifo_in_a_model_folder_is_refused_without_waiting(saved, tmp_path, name):
    folder = _copy(saved, tmp_path)
    (folder / name).unlink()
    os.mkfifo(folder / name)
    err = _quick(mrekit.load, folder)
    assert err.code == "E187" and "FIFO" in err.message


def test_oversized_files_are_refused_before_hashing(saved, tmp_path, monkeypatch):
    import mrekit.integrity as integrity

    monkeypatch.setattr(integrity, "MAX_FILE_BYTES", 4096)
    hashed = []
    original = integrity.sha256_file
    monkeypatch.setattr(integrity, "sha256_file", lambda path, *a: hashed.append(Path(path).name) or original(path, *a))
    err = _code(load_model, saved)
    assert err.code == "E187" and "more than the 4096" in err.message and err.path.endswith("model.safetensors")
    assert hashed == []


ABSURD = [
    ("num_hidden_layers", 100_000),
    ("hidden_size", 10**9),
    ("vocab_size", 10**12),
    ("max_position_embeddings", 10**9),
    ("num_attention_heads", -1),
    ("num_hidden_layers", "2"),
    ("hidden_size", 8192),  # within the cap, but far more parameters than the weights hold
]


@pytest.mark.parametrize(("key", "value"), ABSURD)
def test_absurd_configurations_are_refused_before_building(tiny_encoder, saved, tmp_path, key, value):
    plain = _copy(tiny_encoder, tmp_path, "plain")
    _edit_json(plain / "config.json", **{key: value})
    for loader in (load_encoder, _masked_lm):
        err = _quick(loader, plain)
        assert err.code == "E187" and err.path.endswith("config.json")
    folder = _copy(saved, tmp_path)
    _edit_json(folder / "encoder" / "config.json", **{key: value})
    assert _code(load_model, folder).code == "E188"  # changed after saving
    _rehash(folder)
    assert _quick(load_model, folder).code == "E187"  # and out of range even when re-recorded


def test_absurd_generative_configurations_are_refused(causal_folder, generative, tmp_path):
    plain = _copy(causal_folder, tmp_path, "plain")
    _edit_json(plain / "config.json", n_layer=100_000)
    assert _quick(_load_pretrained, plain).code == "E187"
    gen = _copy(generative, tmp_path, "gen")
    _edit_json(gen / "model" / "config.json", d_model=10**8)
    assert _code(_load_generative, gen).code == "E201"
    _rehash(gen, settings=("architecture", "output", "generation"))
    assert _quick(_load_generative, gen).code == "E187"


# --- item 7: every file that shapes predictions is hashed and checked -------------------------------------


def test_export_records_its_files_in_the_manifest(exported):
    folder, _ = exported
    files = json.loads((folder / "mrekit.json").read_text())["files"]
    assert files == hash_folder(folder, skip=("mrekit.json",))
    assert {"model.onnx", "model.int8.onnx", "onnx.json", "labels.json", "encoder/config.json"} <= set(files)
    assert any(name.startswith("tokenizer/") for name in files)
    assert mrekit.load(folder).backend_name_ == "onnx"  # auto is the exact fp32 export; int8 only when asked


def test_onnx_swapped_in_from_another_model_is_refused(exported, tmp_path):
    first, second = exported
    folder = _copy(second, tmp_path)
    shutil.copyfile(first / "model.int8.onnx", folder / "model.int8.onnx")
    for backend in ("auto", "onnx-int8"):
        err = _code(mrekit.load, folder, backend=backend)
        assert err.code == "E188" and err.path.endswith("model.int8.onnx")
    assert mrekit.load(folder, backend="onnx").backend_.name == "onnx"  # the fp32 export is intact
    assert mrekit.load(folder, backend="torch").backend_.name == "torch"  # the PyTorch weights too


def test_onnx_planted_in_a_folder_without_export_is_refused(exported, saved, tmp_path):
    folder = _copy(saved, tmp_path)
    shutil.copyfile(exported[0] / "model.int8.onnx", folder / "model.int8.onnx")
    err = _code(mrekit.load, folder)
    assert err.code == "E188" and "added after saving" in err.message and err.path.endswith("model.int8.onnx")


def test_truncated_onnx_is_refused(exported, tmp_path):
    from mrekit.encoder.onnx import OnnxBackend

    folder = _copy(exported[0], tmp_path)
    onnx = folder / "model.int8.onnx"
    onnx.write_bytes(onnx.read_bytes()[:1000])
    err = _code(mrekit.load, folder)
    assert err.code == "E188" and err.path.endswith("model.int8.onnx")
    err = _code(OnnxBackend, onnx)  # and ONNX Runtime's own failure is coded too
    assert err.code == "E188" and "ONNX export" in err.message


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("tokenizer/tokenizer.json", lambda p: p.write_text(p.read_text().replace('"[UNK]"', '"[UNX]"', 1))),
        ("tokenizer/tokenizer.json", lambda p: p.write_bytes(p.read_bytes()[:200])),  # truncated
        ("tokenizer/tokenizer_config.json", lambda p: _edit_json(p, model_max_length=4)),
        ("labels.json", lambda p: _edit_json(p, text_labels=["B", "A"])),
        ("encoder/config.json", lambda p: p.write_text("{not json")),
        ("tokenizer/added_tokens.json", lambda p: p.write_text('{"muse": 7}')),  # planted
        ("tokenizer/tokenizer.json", lambda p: p.unlink()),
    ],
)
def test_changed_added_or_missing_files_are_refused_naming_the_file(saved, tmp_path, name, change):
    folder = _copy(saved, tmp_path)
    change(folder / name)
    err = _code(mrekit.load, folder)
    assert err.code == "E188" and err.path.endswith(name)


def test_changed_weights_keep_their_code_and_changed_config_is_refused(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert _code(mrekit.load, folder).code == "E182"
    folder = _copy(saved, tmp_path, "config")
    manifest = json.loads((folder / "mrekit.json").read_text())
    manifest["config"]["text_labels"] = ["B", "A"]
    (folder / "mrekit.json").write_text(json.dumps(manifest))
    err = _code(mrekit.load, folder)
    assert err.code == "E188" and err.field == "config"


def test_overwrite_replaces_an_exported_model(exported, tiny_encoder, tmp_path):
    folder = _copy(exported[0], tmp_path)
    model, tokenizer = _joint(tiny_encoder, 3)
    save_model(model, tokenizer, folder, overwrite=True)
    assert not (folder / "model.onnx").exists()
    assert mrekit.load(folder).backend_.name == "torch"


def test_generative_files_are_hashed_and_checked(generative, tmp_path):
    files = json.loads((generative / "mrekit.json").read_text())["files"]
    assert "model/config.json" in files and any(n.startswith("tokenizer/") for n in files)
    for name, change in [
        ("tokenizer/tokenizer.json", lambda p: p.write_bytes(p.read_bytes()[:100])),
        ("model/generation_config.json", lambda p: _edit_json(p, max_length=3)),
        ("model/extra.safetensors", lambda p: p.write_bytes(b"x")),
    ]:
        folder = _copy(generative, tmp_path, name.replace("/", "_"))
        change(folder / name)
        err = _code(mrekit.load, folder)
        assert err.code == "E201" and err.path.endswith(name)
    folder = _copy(generative, tmp_path, "settings")
    manifest = json.loads((folder / "mrekit.json").read_text())
    manifest["generation"]["num_beams"] = 7
    (folder / "mrekit.json").write_text(json.dumps(manifest))
    assert _code(mrekit.load, folder).code == "E201"


# --- item 14 (model part): corrupt files give coded errors, not tracebacks --------------------------------


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("tokenizer.json", lambda p: p.write_bytes(p.read_bytes()[:300])),
        ("config.json", lambda p: p.write_text("{not json")),
        ("config.json", lambda p: p.write_text("[1, 2]")),
        ("config.json", lambda p: p.write_bytes(b"\xff\xfe{}")),
        ("model.safetensors", lambda p: p.write_bytes(p.read_bytes()[:500])),
    ],
)
def test_corrupt_encoder_folders_give_coded_errors(tiny_encoder, tmp_path, name, change):
    folder = _copy(tiny_encoder, tmp_path)
    change(folder / name)
    err = _code(load_encoder, folder)
    assert err.code == "E188"


MANIFESTS = [
    ("{not json", "not valid JSON"),
    ("[]", "JSON list, not an object"),
    ("null", "not an object"),
    (lambda m: m.pop("files"), "'files' is missing"),
    (lambda m: m.pop("config"), "'config' is missing"),
    (lambda m: m.update(config="mre"), "'config' is a str"),
    (lambda m: m.update(files=["model.safetensors"]), "'files' is a list"),
    (lambda m: m["files"].update({"../../etc/passwd": "0" * 64}), "unsafe path"),
    (lambda m: m["files"].update({"labels.json": "not a hash"}), "not a SHA-256"),
    (lambda m: m["files"].pop("model.safetensors"), "does not record model.safetensors"),
    (lambda m: m.update(format_version=str(FORMAT_VERSION)), f"v'{FORMAT_VERSION}' (a str, not a whole number)"),
    (lambda m: m.update(format_version=True), "(a bool, not a whole number)"),
    (lambda m: m.update(format_version=1), "v1 is not mrekit-joint-model v2"),
]


@pytest.mark.parametrize(("change", "message"), MANIFESTS)
def test_corrupt_manifests_give_coded_errors(saved, tmp_path, change, message):
    folder = _copy(saved, tmp_path)
    path = folder / "mrekit.json"
    if isinstance(change, str):
        path.write_text(change)
    else:
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest))
    err = _code(mrekit.load, folder)
    assert err.code == "E181" and message in err.message


def test_corrupt_generative_manifest_shows_the_version_type(generative, tmp_path):
    folder = _copy(generative, tmp_path)
    _edit_json(folder / "mrekit.json", format_version="2")
    err = _code(mrekit.load, folder)
    assert err.code == "E200" and "v'2' (a str" in err.message
    (folder / "mrekit.json").write_text('["engine", "generative"]')
    assert _code(mrekit.load, folder).code == "E181"  # not a generative manifest: read as an encoder one


def test_the_default_encoder_is_still_pinned(monkeypatch):
    import mrekit.encoder.backbone as enc

    enc.default_encoder_path.cache_clear()
    monkeypatch.setattr(enc, "MINILM_SHA256", "0" * 64)
    try:
        assert _code(load_encoder).code == "E180"
        assert _code(load_encoder, "minilm").code == "E180"
    finally:
        enc.default_encoder_path.cache_clear()


def test_export_refuses_a_generative_model_with_a_code(generative):
    pytest.importorskip("onnxruntime")
    from mrekit.cli.export import export

    err = _code(export, generative)
    assert err.code == "E181" and "encoder engine" in err.message
    assert not list(generative.glob("*.onnx"))
