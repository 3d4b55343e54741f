"""Writing outputs safely: atomic, crash-safe, and never over a user's data.

Every file or folder mrekit writes goes through :func:`atomic_file` or :func:`atomic_dir`,
which keep the product's promise never to lose a user's data:

* an output appears only when complete (temporary name beside it, then a rename), with
  the permissions the umask gives (``mkstemp`` alone would make every file 0600);
* an existing output is refused (``E170``) unless ``overwrite=True``; the output is never
  an input (same inode, ``E172``); a folder mrekit did not write (no marker file
  :data:`MARKER` listing what it wrote) is never replaced (``E174``), and with
  ``overwrite`` only a folder holding nothing but mrekit's files is;
* a symlinked output is written through to its target; ``-`` is standard output; FIFOs
  and character devices are streamed to, never replaced; other special files are refused;
* replacing a folder is crash-safe: the new folder is swapped in with one atomic
  ``renameat2(RENAME_EXCHANGE)`` where Linux offers it, so a kill at any instant leaves
  either the old or the new folder at the path; elsewhere the old folder is renamed aside
  first and put back by the next write if the process died in between;
* temporary files carry their process id, so those of a killed run are removed by the
  next write to the same path (``W110``);
* a full disk or a denied write is ``E171``, with nothing left behind.

Written by hand because no well-kept library covers this set: ``atomicwrites`` is
unmaintained and writes single files only.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from mrekit.errors import MrekitError, warn

logger = logging.getLogger(__name__)

#: The file inside every folder mrekit writes, listing the files it wrote there.
MARKER = ".mrekit-output.json"

PathLike = str | Path


def current_umask() -> int:
    """The process umask, read without changing it where ``/proc`` allows (thread-safe)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _input_stats(inputs: Iterable[PathLike]) -> list[tuple[Path, os.stat_result]]:
    found = []
    for item in inputs:
        with contextlib.suppress(OSError, ValueError):
            found.append((Path(item), os.stat(item)))
    return found


def _refuse_inputs(target: Path, inputs: Iterable[PathLike], *, folder: bool) -> None:
    """``E172`` when ``target`` is an input, or (a folder) holds one."""
    try:
        here = os.stat(target)
    except OSError:
        return
    for path, info in _input_stats(inputs):
        if _same_file(here, info):
            raise MrekitError("E172", f"the output is the input {path}", path=target, hint="choose another output path")
        if folder and here.st_dev == info.st_dev:
            inside = Path(os.path.realpath(path))
            if Path(os.path.realpath(target)) in inside.parents:
                raise MrekitError(
                    "E172", f"the output folder holds the input {path}", path=target, hint="choose another output path"
                )


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.mrekit-"


def _temp_name_pid(name: str, prefix: str) -> int | None:
    rest = name[len(prefix) :]
    head = rest.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(target: str | Path) -> list[Path]:
    """Remove the temporary files and folders that killed processes left beside ``target``.

    Only names that mrekit itself makes (``.NAME.mrekit-PID-….tmp``) whose process is gone
    are touched. Returns what was removed (and logs ``W110`` when anything was).

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / ".out.jsonl.mrekit-999999999-x.tmp").write_text("half")
        >>> [p.name for p in clean_stale_temps(folder / "out.jsonl")]
        ['.out.jsonl.mrekit-999999999-x.tmp']
    """
    target = Path(target)
    prefix = _temp_prefix(target)
    removed = []
    with contextlib.suppress(OSError):
        for entry in target.parent.iterdir():
            if not (entry.name.startswith(prefix) and entry.name.endswith((".tmp", ".old"))):
                continue
            pid = _temp_name_pid(entry.name, prefix)
            if pid is None or _alive(pid):
                continue
            if entry.is_dir() and not entry.is_symlink():
                if entry.name.endswith(".old") and not target.exists():
                    continue  # the only copy of an interrupted swap: recover_swap puts it back
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
            removed.append(entry)
    if removed:
        warn(logger, "W110", f"removed {len(removed)} temporary file(s) of an interrupted run beside {target}")
    return removed


def _stream_target(path: PathLike) -> bool:
    """True for outputs written to as a stream: ``-``, FIFOs and character devices."""
    if str(path) == "-":
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _write_error(err: OSError, path: Path) -> MrekitError:
    if err.errno == errno.ENOSPC:
        return MrekitError("E171", "no space left on the device", path=path, hint="free some space and run again")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return MrekitError("E171", f"no permission to write ({err.strerror})", path=path)
    return MrekitError("E171", f"cannot write: {err.strerror or err}", path=path)


def _prepare_parent(target: Path) -> None:
    """Make the folder ``target`` goes into, and clear what killed writes left there."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _write_error(err, target.parent) from None
    clean_stale_temps(target)


def check_output_file(path: PathLike, *, overwrite: bool = False, inputs: Iterable[PathLike] = ()) -> Path:
    """Check that a file may be written at ``path`` and return where to write it.

    A symlink resolves to its target (the link itself stays).

    Raises:
        MrekitError: ``E172`` if ``path`` is an input; ``E173`` if it is a folder;
            ``E170`` if it exists and ``overwrite`` is false; ``E171`` for a special
            file that cannot be streamed to (socket, block device).

    Example:
        >>> import tempfile, pathlib
        >>> existing = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
        >>> _ = existing.write_text("{}")
        >>> check_output_file(existing)
        Traceback (most recent call last):
        ...
        mrekit.errors.MrekitError: [E170] ...a.jsonl: the output already exists (pass --overwrite to replace it)
    """
    target = Path(os.path.abspath(path))
    inputs = list(inputs)
    _refuse_inputs(target, inputs, folder=False)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    if target.is_dir():
        raise MrekitError("E173", "the output path is a folder; a file is expected here", path=path)
    if target.exists():
        mode = os.stat(target).st_mode
        if not stat.S_ISREG(mode):
            raise MrekitError("E171", "the output is a special file that cannot be written to", path=path)
        if not overwrite:
            raise MrekitError("E170", "the output already exists", path=path, hint="pass --overwrite to replace it")
    return target


@contextlib.contextmanager
def atomic_file(
    path: PathLike, *, overwrite: bool = False, inputs: Iterable[PathLike] = (), binary: bool = False
) -> Iterator[IO]:
    """Open a temporary file beside ``path`` and move it into place on success.

    If the body raises, the temporary file is removed and ``path`` is untouched, so a
    failed conversion never leaves a half-written output. ``-``, FIFOs and character
    devices are written to directly (they hold no data that a failed write could lose).

    Args:
        path: The output file.
        overwrite: Replace an existing file (its permissions are kept).
        inputs: Files the output must not be (checked by inode, not by name).
        binary: Hand out a binary handle instead of a UTF-8 text one.

    Raises:
        MrekitError: see :func:`check_output_file`; ``E171`` when writing fails.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_file(target) as fh:
        ...     _ = fh.write("ok")
        >>> target.read_text()
        'ok'
    """
    if _stream_target(path):
        if str(path) != "-":
            _refuse_inputs(Path(path), inputs, folder=False)
        with _stream(path, binary) as fh:
            yield fh
        return
    target = check_output_file(path, overwrite=overwrite, inputs=inputs)
    _prepare_parent(target)
    keep_mode = stat.S_IMODE(os.stat(target).st_mode) if target.exists() else None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f"{_temp_prefix(target)}{os.getpid()}-", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _write_error(err, target) from None
    try:
        handle = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        with handle as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, keep_mode if keep_mode is not None else 0o666 & ~current_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_error(exc, target) from None
        raise


@contextlib.contextmanager
def _stream(path: PathLike, binary: bool) -> Iterator[IO]:
    if str(path) == "-":
        out = sys.stdout.buffer if binary else sys.stdout
        yield out
        out.flush()
        return
    try:
        fh = open(path, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": "\n"}))  # noqa: SIM115
    except OSError as err:
        raise _write_error(err, Path(path)) from None
    try:
        with fh:
            yield fh
    except OSError as err:
        raise _write_error(err, Path(path)) from None


def read_marker(folder: PathLike) -> set[str] | None:
    """The files mrekit wrote into ``folder`` (relative paths), or ``None`` if it did not write it."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    return set(files) if isinstance(files, list) and all(isinstance(f, str) for f in files) else None


def _files_under(folder: Path) -> set[str]:
    """Every file and folder below ``folder`` (folders end in ``/``), links not followed."""
    found: set[str] = set()
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        found.update((base / d).as_posix() + "/" for d in dirs)
        found.update((base / f).as_posix() for f in files if not (root == str(folder) and f == MARKER))
    return found


def write_marker(folder: PathLike, added: Iterable[str] | None = None) -> None:
    """Record files in ``folder`` as written by mrekit.

    Without ``added``, every file now in ``folder`` is recorded (a folder mrekit has just
    built under a temporary name). With ``added``, those files are added to the record
    that is already there: call it after writing into a finished mrekit folder (an ONNX
    export beside the weights), so that a later ``overwrite`` may replace them, while a
    user's file dropped in meanwhile still keeps the folder from being replaced.
    """
    folder = Path(folder)
    if added is None:
        files = _files_under(folder)
    else:
        files = (read_marker(folder) or set()) | set(added)
    data = {"written_by": "mrekit", "files": sorted(files)}
    tmp = folder / f"{MARKER}.mrekit-{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, folder / MARKER)


def check_output_dir(path: PathLike, *, overwrite: bool = False, inputs: Iterable[PathLike] = ()) -> Path:
    """Check that a folder may be written at ``path`` and return the real path to replace.

    An empty folder may be replaced; an mrekit folder only with ``overwrite`` and only
    while it holds nothing but what mrekit wrote; any other folder never.

    Raises:
        MrekitError: ``E172`` if the folder is or holds an input; ``E173`` if ``path``
            is a file; ``E170`` for an earlier mrekit output without ``overwrite``;
            ``E174`` for a folder with files mrekit did not write.
    """
    target = Path(os.path.abspath(path))
    _refuse_inputs(target, inputs, folder=True)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    here = Path(os.path.realpath(os.getcwd()))
    if Path(os.path.realpath(target)) in (here, *here.parents):
        raise MrekitError(
            "E173", "the output folder is the current folder or holds it", path=path, hint="name a new folder"
        )
    recover_swap(target)
    if target.exists() and not target.is_dir():
        raise MrekitError("E173", "the output path is a file; a folder is expected here", path=path)
    if not target.exists() or not any(target.iterdir()):
        return target
    written = read_marker(target)
    if written is None:
        raise MrekitError(
            "E174",
            "the output folder exists and was not written by mrekit; nothing in it is replaced",
            path=path,
            hint="choose a new or empty folder",
        )
    if not overwrite:
        raise MrekitError("E170", "the output folder already exists", path=path, hint="pass --overwrite to replace it")
    foreign = sorted(_files_under(target) - written)
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise MrekitError(
            "E174",
            f"the output folder holds files mrekit did not write ({shown}); it is not replaced",
            path=path,
            hint="move those files elsewhere or choose another folder",
        )
    return target


def _old_name(target: Path) -> Path:
    return target.with_name(f"{_temp_prefix(target)}{os.getpid()}-swap.old")


def recover_swap(target: PathLike) -> Path | None:
    """Put back the old folder of a swap that a killed process left half-done.

    Only happens where the atomic exchange is unavailable: the old folder was renamed
    aside and the process died before the new one took its place.
    """
    target = Path(target)
    if target.exists() or target.is_symlink():
        return None
    prefix = _temp_prefix(target)
    with contextlib.suppress(OSError):
        for entry in sorted(target.parent.iterdir()):
            if entry.name.startswith(prefix) and entry.name.endswith("-swap.old") and read_marker(entry) is not None:
                pid = _temp_name_pid(entry.name, prefix)
                if pid is not None and _alive(pid) and pid != os.getpid():
                    continue
                os.replace(entry, target)
                logger.info("restored %s from an interrupted swap", target)
                return target
    return None


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); ``False`` where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(tmp: Path, target: Path) -> None:
    """Put the complete folder ``tmp`` at ``target``; the old one stays until then."""
    if not target.exists():
        os.replace(tmp, target)
        return
    if _exchange(tmp, target):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old folder
        return
    old = _old_name(target)
    os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def _apply_umask(folder: Path) -> None:
    """Give the new folder, its subfolders and files the umask's permissions.

    Writers inside it may create files 0600 whatever the umask (safetensors' ``save_file``
    does, as ``mkstemp`` does), which would make a model folder unreadable to another user
    or a container running as another uid. Everything in the folder is mrekit's own, just
    written, so none of it has a mode worth keeping.
    """
    mask = current_umask()
    for here, _dirs, files in os.walk(folder):
        base = Path(here)
        os.chmod(base, 0o777 & ~mask)
        for name in files:
            path = base / name
            if not path.is_symlink():
                os.chmod(path, 0o666 & ~mask)


@contextlib.contextmanager
def atomic_dir(path: PathLike, *, overwrite: bool = False, inputs: Iterable[PathLike] = ()) -> Iterator[Path]:
    """Build a folder under a temporary name and swap it in at ``path`` on success.

    The folder gets a marker (:data:`MARKER`) listing the files written, which is what
    later allows ``overwrite`` to replace it. See :func:`check_output_dir` for what is
    refused.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "model"
        >>> with atomic_dir(out) as tmp:
        ...     _ = (tmp / "a.txt").write_text("1")
        >>> sorted(p.name for p in out.iterdir())
        ['.mrekit-output.json', 'a.txt']
        >>> with atomic_dir(out, overwrite=True) as tmp:
        ...     _ = (tmp / "b.txt").write_text("2")
        >>> sorted(p.name for p in out.iterdir())
        ['.mrekit-output.json', 'b.txt']
    """
    target = check_output_dir(path, overwrite=overwrite, inputs=inputs)
    _prepare_parent(target)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(target)}{os.getpid()}-", suffix=".tmp", dir=target.parent))
    except OSError as err:
        raise _write_error(err, target) from None
    try:
        yield tmp
        write_marker(tmp)
        _apply_umask(tmp)
        _swap_in(tmp, target)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _write_error(exc, target) from None
        raise
