"""Files on disk: every name meanfield writes, atomic writes, checked reads, the lock.

Every write goes to a temporary file in the same directory and is moved into place with
os.replace, so a killed process leaves either the old file or the new one. Nothing is
pickled: arrays are read with ``allow_pickle=False``. Every read is checked: a file that
is missing, truncated, not what it should be or of an unknown format raises
:class:`DamagedRun` whose message is one line naming the file and what is wrong.

Layout of a run directory::

    meanfield-run.json          marker: written first, format version; only a directory
                                holding it is ever written into by a second command
    meanfield.lock              held (flock) by the one process writing the directory;
                                holds that process's pid, host and command
    config.json / config.toml   the Config
    metrics.json                status, t, t_end, steps, wall time, records, summary
    checkpoint.npz              last saved State and records (resume point), with the
                                config it was computed for
    checkpoint.previous.npz     the one before (resume falls back to it)
    tangent.npz, tangent.previous.npz   the same for the tangent model of the
                                diagnostics (``diagnostics.tangent``)
    trajectory.npz              records, snapshots, teacher and final particles
    figures/                    what ``meanfield plot`` draws

Layout of a sweep directory::

    sweep.json                  manifest: what the cells are (also the marker)
    meanfield.lock              the lock, as in a run directory
    cells/<id>/                 a run directory, or task.json + result.json for a
                                function cell; attempts.json logs every start
    results.csv, series.csv     the tables (config sweeps)
"""
from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import socket
import stat
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

# run directories
MARKER = "meanfield-run.json"
LOCK = "meanfield.lock"
CONFIG = "config.json"
CONFIG_TOML = "config.toml"
METRICS = "metrics.json"
CHECKPOINT = "checkpoint.npz"
CHECKPOINT_PREVIOUS = "checkpoint.previous.npz"
TANGENT = "tangent.npz"
TANGENT_PREVIOUS = "tangent.previous.npz"
TRAJECTORY = "trajectory.npz"
FIGURES = "figures"
# sweep directories
MANIFEST = "sweep.json"
CELLS = "cells"
ATTEMPTS = "attempts.json"
TASK = "task.json"
RESULT = "result.json"
RESULTS = "results.csv"
SERIES = "series.csv"
DISTANCES = "distances.csv"

#: format of the files of a run directory this version writes (and the newest it reads)
FORMAT = 1
#: names every run directory may hold (anything else there was put by someone else)
RUN_FILES = (MARKER, LOCK, CONFIG, CONFIG_TOML, METRICS, CHECKPOINT, CHECKPOINT_PREVIOUS,
             TANGENT, TANGENT_PREVIOUS, TRAJECTORY, FIGURES)


class DamagedRun(Exception):
    """A file meanfield wrote cannot be used: missing, truncated, altered or of an
    unknown format. The message is one line: the file, then what is wrong."""

    def __init__(self, path, what: str):
        self.path, self.what = Path(path), what
        super().__init__(f"{path}: {what}")


def refuse_link(path) -> None:
    """DamagedRun if ``path`` is a symbolic link: meanfield never writes one into a run or
    sweep directory, and never follows one out of it."""
    if os.path.islink(path):
        raise DamagedRun(path, "is a symbolic link (meanfield never writes one, nor "
                               "follows one out of its directory); remove it")


class Busy(Exception):
    """Another process holds the lock of a run or sweep directory (exit status 2)."""


# -- writing ---------------------------------------------------------------------------
def atomic_write(path, data: bytes) -> None:
    """Write bytes to ``path`` through a temporary file, fsync and os.replace."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    atomic_write(path, text.encode("utf-8"))


def write_json(path, obj) -> None:
    """Write ``obj`` as indented JSON atomically."""
    write_text(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def write_npz(path, **arrays) -> None:
    """Save arrays (no object arrays) atomically as an uncompressed .npz."""
    buffer = io.BytesIO()
    named: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
    np.savez(buffer, **named)
    atomic_write(path, buffer.getvalue())


def rotate(path, previous) -> None:
    """Make ``previous`` a copy of ``path`` (if it exists) before ``path`` is rewritten:
    the last two versions of a checkpoint are kept, so that a damaged newest one can be
    fallen back from. A hard link moved into place atomically, so ``path`` never goes
    missing (readers and a kill at any moment see both files); where links are not
    supported, ``path`` is moved (a kill before it is rewritten leaves ``previous``)."""
    path, previous = Path(path), Path(previous)
    if not path.exists() or path.is_symlink():  # a link is replaced, never kept
        return
    link = previous.with_name(f".{previous.name}.{os.getpid()}.tmp")
    try:
        os.link(path, link, follow_symlinks=False)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, previous)
        return
    os.replace(link, previous)


def remove_temporaries(run_dir) -> None:
    """Delete temporary files a killed writer left behind (never read by anything)."""
    for path in Path(run_dir).glob(".*.tmp"):
        path.unlink(missing_ok=True)


# -- reading ---------------------------------------------------------------------------
def _why(err: BaseException) -> str:
    text = (str(err).splitlines() or [""])[0].strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def open_file(path, flags: int, mode: int = 0o644) -> int:
    """os.open of a regular file that is not a symbolic link (O_NOFOLLOW; O_NONBLOCK so
    that a FIFO put in its place cannot hang the open); DamagedRun naming the file if it
    is a link, a directory, or not a regular file. Other OSErrors propagate."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode)
    except OSError as err:
        if err.errno == errno.ELOOP:
            refuse_link(path)
        if err.errno == errno.EISDIR:
            raise DamagedRun(path, "is a directory, not a file") from None
        raise
    try:
        kind = os.fstat(fd).st_mode
        if not stat.S_ISREG(kind):
            raise DamagedRun(path, "is not a regular file (a device, FIFO or socket)")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path) -> bytes:
    """The bytes of ``path``; DamagedRun if it is missing, unreadable, a symbolic link or
    not a regular file."""
    try:
        fd = open_file(path, os.O_RDONLY)
    except FileNotFoundError:
        raise DamagedRun(path, "missing") from None
    except OSError as err:
        raise DamagedRun(path, f"cannot be read ({err.strerror})") from None
    try:
        with os.fdopen(fd, "rb") as fh:
            return fh.read()
    except OSError as err:
        raise DamagedRun(path, f"cannot be read ({err.strerror})") from None


def read_json(path):
    """The JSON document in ``path``; DamagedRun if it is missing, not UTF-8 or not JSON
    (NaN and Infinity are accepted: meanfield writes them for missing values)."""
    data = read_bytes(path)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise DamagedRun(path, "not a text file (invalid UTF-8)") from None
    except (json.JSONDecodeError, RecursionError) as err:
        what = err.msg if isinstance(err, json.JSONDecodeError) else "nested too deeply"
        where = f" at line {err.lineno} column {err.colno}" \
            if isinstance(err, json.JSONDecodeError) else ""
        raise DamagedRun(path, f"not valid JSON ({what}{where}); truncated or altered") \
            from None


def read_npz(path) -> dict[str, np.ndarray]:
    """Every array of an .npz file written by :func:`write_npz`, checked: a zip archive of
    .npy members whose headers are valid, whose sizes match their shapes and whose CRCs
    match (so a truncated file or a flipped byte is caught), with no object arrays.
    DamagedRun otherwise."""
    data = read_bytes(path)
    arrays = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                name = info.filename
                if not name.endswith(".npy"):
                    raise DamagedRun(path, f"member {name!r} is not an array")
                with archive.open(info) as fh:
                    arrays[name[:-4]] = _read_npy(fh, info.file_size, path, name)
    except DamagedRun:
        raise
    except Exception as err:  # zipfile and the .npy header parser raise many kinds
        raise DamagedRun(path, f"not a valid .npz archive ({_why(err)}); truncated or "
                               f"altered") from None
    return arrays


def _read_npy(fh, size: int, path, name: str) -> np.ndarray:
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(fh)
    else:
        raise DamagedRun(path, f"member {name!r} has .npy version {version}")
    if dtype.hasobject:
        raise DamagedRun(path, f"member {name!r} holds Python objects (refused)")
    count = int(np.prod(shape, dtype=object))
    header = fh.tell()
    if header + count * dtype.itemsize != size:
        raise DamagedRun(path, f"member {name!r}: {size - header} bytes of data for shape "
                               f"{shape} of {dtype}; truncated or altered")
    raw = fh.read(count * dtype.itemsize)
    fh.read(1)  # reach the end of the member: zipfile checks its CRC there
    array = np.frombuffer(raw, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C").copy()


# -- the marker --------------------------------------------------------------------------
def write_marker(run_dir, kind: str = "run") -> None:
    """Write the marker of a run directory (first of its files)."""
    from .. import __version__

    write_json(Path(run_dir) / MARKER, {"format": FORMAT, "kind": kind,
                                        "meanfield": __version__})


def has_marker(run_dir) -> bool:
    """True when ``run_dir`` holds a marker file (a link does not count)."""
    path = Path(run_dir) / MARKER
    return path.is_file() and not path.is_symlink()


def check_marker(run_dir) -> dict:
    """The marker's contents; DamagedRun if it is damaged or of a newer format."""
    path = Path(run_dir) / MARKER
    marker = read_json(path)
    if not isinstance(marker, dict) or not isinstance(marker.get("format"), int) \
            or isinstance(marker.get("format"), bool):
        raise DamagedRun(path, "no format version; altered")
    if marker["format"] > FORMAT:
        raise DamagedRun(path, f"format {marker['format']} is newer than this meanfield "
                               f"reads ({FORMAT}); upgrade meanfield")
    if marker["format"] < 1 or marker.get("kind") != "run":
        raise DamagedRun(path, f"not the marker of a run (format {marker['format']}, "
                               f"kind {marker.get('kind')!r})")
    return marker


def is_empty_dir(path) -> bool:
    """True when ``path`` is a directory without entries (a lock file alone counts as
    empty: it is what a failed start leaves)."""
    return all(entry.name == LOCK for entry in Path(path).iterdir())


# -- the lock ----------------------------------------------------------------------------
def _holder(fd: int) -> dict:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


@contextlib.contextmanager
def lock(directory, command: str):
    """Hold an exclusive lock on ``directory`` (flock on its meanfield.lock) while the
    block runs; the file then names this process (pid, host, command). If another
    process holds it, raise :class:`Busy` naming that process's pid; DamagedRun if the
    lock file is a symbolic link or not a regular file (never followed)."""
    import fcntl

    path = Path(directory) / LOCK
    fd = open_file(path, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = _holder(fd)
            who = (f"pid {holder['pid']} on {holder.get('host', '?')} "
                   f"(meanfield {holder.get('command', '?')})" if "pid" in holder
                   else "another process")
            raise Busy(f"{directory} is being written by {who}; wait for it to finish "
                       f"or stop it") from None
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "command": command, "argv": sys.argv[1:]})
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode("utf-8"), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
