"""Issue 12, outputs: nothing mrekit did not write is deleted, replaced or overwritten.

Items 1 (folders replaced), 2 (special files and symlinks), 3 (existing outputs and the
input itself), 12 (crash-safe swaps, stale temporary files), 14 (output path errors,
disk full), 16 (umask).
"""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mrekit import outputs as _io
from mrekit.cli import app
from mrekit.errors import MrekitError
from mrekit.formats import jsonl
from mrekit.outputs import MARKER, atomic_dir, atomic_file, clean_stale_temps, recover_swap
from mrekit.schema import Example, Span

runner = CliRunner()
GOOD = (
    '{"id": "1", "text": "play muse", "labels": ["PlayMusic"], "spans": [{"start": 5, "end": 9, "label": "artist"}]}\n'
)


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def snapshot(folder):
    """Every path below ``folder`` with its bytes (None for folders)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            found[os.path.relpath(os.path.join(root, d), folder)] = None
        for f in files:
            path = os.path.join(root, f)
            found[os.path.relpath(path, folder)] = open(path, "rb").read()
    return found


# 1. A folder that mrekit did not write is never removed or replaced.
def test_convert_to_bio_refuses_a_user_folder_and_keeps_everything(tmp_path):
    proj = tmp_path / "proj"
    (proj / "sub").mkdir(parents=True)
    (proj / "notes.txt").write_text("keep")
    (proj / "good.jsonl").write_text(GOOD)
    before = snapshot(proj)
    result = run("convert", proj / "good.jsonl", proj, "--to", "bio")
    assert result.exit_code == 1
    assert "E172" in result.output  # the folder holds the input
    assert snapshot(proj) == before
    other = tmp_path / "other"
    (other / "sub").mkdir(parents=True)
    (other / "notes.txt").write_text("keep")
    before = snapshot(other)
    for flags in ([], ["--overwrite"]):
        result = run("convert", proj / "good.jsonl", other, "--to", "bio", *flags)
        assert result.exit_code == 1 and "E174" in result.output, result.output
        assert snapshot(other) == before


def test_bio_output_replaced_only_with_overwrite_and_only_mrekit_files(tmp_path):
    src = tmp_path / "good.jsonl"
    src.write_text(GOOD)
    out = tmp_path / "bio"
    assert run("convert", src, out, "--to", "bio").exit_code == 0
    assert json.loads((out / MARKER).read_text())["files"] == ["label", "seq.in", "seq.out"]
    result = run("convert", src, out, "--to", "bio")
    assert result.exit_code == 1 and "E170" in result.output
    assert run("convert", src, out, "--to", "bio", "--overwrite").exit_code == 0
    (out / "mine.txt").write_text("a user's file inside an mrekit folder")
    result = run("convert", src, out, "--to", "bio", "--overwrite")
    assert result.exit_code == 1 and "E174" in result.output and "mine.txt" in result.output
    assert (out / "mine.txt").read_text() == "a user's file inside an mrekit folder"


def test_an_empty_folder_may_be_filled(tmp_path):
    (tmp_path / "empty").mkdir()
    with atomic_dir(tmp_path / "empty") as tmp:
        (tmp / "a").write_text("1")
    assert (tmp_path / "empty" / "a").read_text() == "1"


def test_model_save_refuses_an_existing_user_folder(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    with pytest.raises(MrekitError) as err, atomic_dir(target, overwrite=True) as tmp:
        (tmp / "model.safetensors").write_bytes(b"w")
    assert err.value.code == "E174"
    assert (target / "thesis.tex").read_text() == "years of work"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


# 3. Existing outputs, and the input itself.
def test_convert_never_overwrites_its_input(tmp_path, fixtures):
    data = tmp_path / "x.conll"
    data.write_bytes((fixtures / "mini.conll").read_bytes())
    before = data.read_bytes()
    for flags in ([], ["--overwrite"]):
        result = run("convert", data, data, *flags)
        assert result.exit_code == 1 and "E172" in result.output
        assert data.read_bytes() == before
    link = tmp_path / "alias.conll"
    link.symlink_to(data)
    result = run("convert", data, link, "--overwrite")
    assert result.exit_code == 1 and "E172" in result.output  # same file by inode, not by name
    hard = tmp_path / "hard.conll"
    os.link(data, hard)
    assert "E172" in run("convert", data, hard, "--overwrite").output
    assert data.read_bytes() == before


def test_existing_output_needs_overwrite(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(GOOD)
    out = tmp_path / "out.conll"
    out.write_text("an earlier result")
    result = run("convert", src, out, "--to", "conll")
    assert result.exit_code == 1 and "E170" in result.output and "--overwrite" in result.output
    assert out.read_text() == "an earlier result"
    assert run("convert", src, out, "--to", "conll", "--overwrite").exit_code == 0
    assert out.read_text().startswith("# id = 1")


def test_predict_refuses_to_overwrite_its_texts_before_loading_the_model(tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("play muse\n")
    result = run("predict", tmp_path / "no-model", texts, "-o", texts)
    assert result.exit_code == 1 and "E172" in result.output
    assert texts.read_text() == "play muse\n"
    out = tmp_path / "p.jsonl"
    out.write_text("old")
    result = run("predict", tmp_path / "no-model", texts, "-o", out)
    assert result.exit_code == 1 and "E170" in result.output and out.read_text() == "old"


# 2. Symlinks, special files, stdout.
def test_symlinked_output_is_written_through_to_its_target(tmp_path):
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    jsonl.write([Example("hi", labels=["x"])], link, overwrite=True)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert json.loads(real.read_text())["text"] == "hi"


def test_fifo_is_streamed_to_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        jsonl.write([Example("hi", labels=["x"])], fifo)
        data = os.read(reader, 4096)
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(data)["text"] == "hi"


def test_dev_null_stays_a_device_and_dev_full_is_a_coded_error():
    jsonl.write([Example("hi")], "/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    with pytest.raises(MrekitError) as err:
        jsonl.write([Example("hi")] * 3000, "/dev/full")
    assert err.value.code == "E171" and "no space" in err.value.message
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_dash_is_stdout(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(GOOD)
    result = run("convert", src, "-")
    assert result.exit_code == 0
    assert json.loads(result.stdout.splitlines()[0])["id"] == "1"
    assert not (tmp_path / "-").exists()


def test_socket_output_is_refused(tmp_path):
    import socket

    path = tmp_path / "s"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        with pytest.raises(MrekitError) as err:
            jsonl.write([Example("hi")], path, overwrite=True)
        assert err.value.code == "E171"
    finally:
        server.close()


# 14. Output paths of the wrong kind, disk full, missing folders.
def test_output_path_that_is_a_folder(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(GOOD)
    result = run("convert", src, tmp_path)
    assert result.exit_code == 1 and "E173" in result.output


def test_to_bio_into_the_current_folder(tmp_path, monkeypatch):
    src = tmp_path / "in.jsonl"
    src.write_text(GOOD)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = run("convert", src, ".", "--to", "bio")
    assert result.exit_code == 1 and "E173" in result.output
    assert work.is_dir() and not list(work.iterdir())


def test_disk_full_leaves_nothing(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_io.os, "fsync", full)
    out = tmp_path / "out.jsonl"
    with pytest.raises(MrekitError) as err:
        jsonl.write([Example("hi")], out)
    assert err.value.code == "E171" and err.value.path == str(out)
    assert list(tmp_path.iterdir()) == []


def test_stats_plot_into_a_missing_folder(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(GOOD)
    plot = tmp_path / "plots" / "deep" / "c.png"
    result = run("stats", src, "--plot", plot)
    assert result.exit_code == 0, result.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "E170" in run("stats", src, "--plot", plot).output


# 12. Crash safety: the old folder stays until the new one is in place; litter is cleaned.
def test_a_kill_during_the_swap_never_leaves_no_folder(tmp_path, monkeypatch):
    out = tmp_path / "model-best"
    with atomic_dir(out) as tmp:
        (tmp / "v").write_text("1")
    # Without the atomic exchange, a kill between the two renames of the fallback...
    monkeypatch.setattr(_io, "_exchange", lambda a, b: False)
    real_replace = os.replace

    def dying_replace(a, b):
        real_replace(a, b)
        if str(b).endswith("-swap.old"):
            raise KeyboardInterrupt  # the process dies right after moving the old folder aside

    monkeypatch.setattr(_io.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt), atomic_dir(out, overwrite=True) as tmp:
        (tmp / "v").write_text("2")
    monkeypatch.setattr(_io.os, "replace", real_replace)
    # ...the next reader or writer puts the old folder back.
    assert not out.exists()
    assert recover_swap(out) == out
    assert (out / "v").read_text() == "1"


def test_the_atomic_exchange_keeps_a_folder_at_the_path_at_every_step(tmp_path, monkeypatch):
    out = tmp_path / "model-best"
    with atomic_dir(out) as tmp:
        (tmp / "v").write_text("1")
    seen = []
    real_exchange = _io._exchange

    def watching(a, b):
        seen.append((out / "v").read_text())
        done = real_exchange(a, b)
        seen.append((out / "v").read_text())
        return done

    monkeypatch.setattr(_io, "_exchange", watching)
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "v").write_text("2")
    assert seen == ["1", "2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-best"]


def test_stale_temporaries_of_dead_processes_are_cleaned(tmp_path):
    out = tmp_path / "out.jsonl"
    dead = 2**22 + 12345  # above the default pid_max: no such process
    (tmp_path / f".out.jsonl.mrekit-{dead}-abc.tmp").write_text("half a file")
    (tmp_path / f".out.jsonl.mrekit-{dead}-def.tmp").mkdir()
    (tmp_path / f".out.jsonl.mrekit-{os.getpid()}-live.tmp").write_text("mine, in progress")
    (tmp_path / ".out.jsonl.user.tmp").write_text("not mrekit's name")
    jsonl.write([Example("hi")], out)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".out.jsonl.mrekit-" + f"{os.getpid()}-live.tmp", ".out.jsonl.user.tmp", "out.jsonl"]
    assert clean_stale_temps(out) == []


def test_an_interrupted_write_leaves_no_temporary(tmp_path):
    def examples():
        yield Example("hi")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jsonl.write(examples(), tmp_path / "o.jsonl")
    assert list(tmp_path.iterdir()) == []


# 16. Permissions follow the umask.
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_and_folders_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        jsonl.write([Example("hi")], tmp_path / "a.jsonl")
        with atomic_dir(tmp_path / "d") as tmp:
            (tmp / "f").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.jsonl").st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(os.stat(tmp_path / "d").st_mode) == 0o777 & ~umask


def test_overwrite_keeps_the_existing_files_mode(tmp_path):
    out = tmp_path / "a.jsonl"
    out.write_text("old")
    os.chmod(out, 0o640)
    jsonl.write([Example("hi")], out, overwrite=True)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640


# Property: whatever sits in the output folder, atomic_dir either refuses and leaves it
# byte for byte, or replaces a folder that held only what mrekit wrote.
names = st.sampled_from(["a", "b", "sub/c", "sub/d", "notes.txt", "x/y/z"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    existing=st.sets(names, max_size=4),
    marked=st.one_of(st.none(), st.sets(names, max_size=4)),
    overwrite=st.booleans(),
)
def test_property_atomic_dir_never_loses_foreign_files(tmp_path_factory, existing, marked, overwrite):
    out = tmp_path_factory.mktemp("prop") / "out"
    out.mkdir()
    for name in existing:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(name)
    if marked is not None:
        listed = set(marked) | {p + "/" for m in marked for p in _parents(m)}
        (out / MARKER).write_text(json.dumps({"written_by": "mrekit", "files": sorted(listed)}))
    before = snapshot(out)
    try:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            (tmp / "new").write_text("new")
    except MrekitError as err:
        assert err.code in {"E170", "E174"}
        assert snapshot(out) == before
        return
    present = {n for n in existing} | {p + "/" for n in existing for p in _parents(n)}
    assert not existing or (marked is not None and overwrite and present <= listed)
    assert (out / "new").read_text() == "new"


def _parents(name):
    parts = name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def test_atomic_file_refuses_a_folder_even_with_overwrite(tmp_path):
    with pytest.raises(MrekitError) as err, atomic_file(tmp_path, overwrite=True):
        pass
    assert err.value.code == "E173"


def test_span_scores_nan_are_refused_not_written(tmp_path):
    bad = Example("hi", spans=[Span(0, 2, "x", score=float("nan"))])
    with pytest.raises(MrekitError) as err:
        jsonl.write([bad], tmp_path / "o.jsonl")
    assert err.value.code == "E108"
    assert list(tmp_path.iterdir()) == []


def test_files_added_to_an_mrekit_folder_are_recorded_but_a_users_file_still_blocks(tmp_path):
    out = tmp_path / "model"
    with atomic_dir(out) as tmp:
        (tmp / "model.safetensors").write_text("w")
    (out / "notes.txt").write_text("mine")  # a user drops a file in...
    (out / "model.onnx").write_text("export")  # ...and mrekit exports beside the weights
    _io.write_marker(out, added=["model.onnx"])
    with pytest.raises(MrekitError) as err, atomic_dir(out, overwrite=True):
        pass
    assert err.value.code == "E174" and "notes.txt" in err.value.message and "model.onnx" not in err.value.message
    (out / "notes.txt").unlink()
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "model.safetensors").write_text("w2")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "model.safetensors"]
