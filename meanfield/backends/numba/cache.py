"""Where the Numba backend's compiled kernels are cached on disk, keyed so they never go stale.

Numba's own cache (``cache=True``) checks only the source file of the function it
compiles, but the kernels here inline functions from other modules of this folder and
freeze constants taken from :mod:`meanfield.kernels` (``RHO_SNAP``, the mixed kernels'
tables) into the machine code: editing one of those left a stale kernel in the cache. So
every kernel of this folder is cached in one folder named by :func:`source_key`, the
package version and a hash of the source files the kernels are built from
(:data:`SOURCES`); a change to any of them, or a new version, starts a new folder:

``<base>/numba/<version>-<hash>/``, where ``<base>`` is ``$MEANFIELD_CACHE_DIR`` if set,
else ``$NUMBA_CACHE_DIR/meanfield`` if set, else the user's cache folder
(``platformdirs.user_cache_dir("meanfield")``: ``~/.cache/meanfield`` on Linux).

:func:`install` (run when the backend is imported) puts :class:`KeyedLocator` in front of
Numba's cache locators; it answers only for functions defined in this folder, so other
Numba code in the process keeps Numba's usual cache places. Numba still keys each entry
by the function's signature and the target CPU (``NUMBA_CPU_NAME``), so one folder holds
the builds for several CPUs side by side.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
from pathlib import Path

from numba.core import caching
from numba.core.caching import _CacheLocator

#: the class holding Numba's list of cache locators (``_CacheImpl`` before Numba 0.68)
_IMPL = getattr(caching, "CacheImpl", None) or caching._CacheImpl

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parents[1]
#: folders (relative to the package) whose .py files the compiled kernels are built from
SOURCES = ("backends/numba", "kernels")


def source_key(package: Path | str = PACKAGE, version: str | None = None) -> str:
    """``"<version>-<hash>"``: the package version and the first 16 hex digits of the
    SHA-256 of every ``.py`` file of :data:`SOURCES` under ``package`` (relative path and
    content, in sorted order; independent of where the package lies and of file times).

    >>> from meanfield.backends.numba.cache import source_key
    >>> source_key()  # doctest: +SKIP
    '0.1.0-3f1c2a9b0d4e5f67'
    """
    package = Path(package)
    if version is None:  # the root package, loaded before any of its subpackages
        version = sys.modules[__name__.split(".")[0]].__version__
    digest = hashlib.sha256()
    for folder in SOURCES:
        for path in sorted((package / folder).glob("*.py")):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return f"{version}-{digest.hexdigest()[:16]}"


def cache_base() -> Path:
    """The folder under which the keyed folders lie: ``$MEANFIELD_CACHE_DIR``, else
    ``$NUMBA_CACHE_DIR/meanfield``, else ``platformdirs.user_cache_dir("meanfield")``.

    >>> from meanfield.backends.numba.cache import cache_base
    >>> cache_base()  # doctest: +SKIP
    PosixPath('/home/me/.cache/meanfield')
    """
    if os.environ.get("MEANFIELD_CACHE_DIR"):
        return Path(os.environ["MEANFIELD_CACHE_DIR"])
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"]) / "meanfield"
    import platformdirs

    return Path(platformdirs.user_cache_dir("meanfield"))


@functools.lru_cache(maxsize=None)
def _key() -> str:
    return source_key()  # this installation's key, hashed once per process


def cache_dir() -> Path:
    """This build's cache folder, ``cache_base() / "numba" / source_key()``.

    >>> from meanfield.backends.numba.cache import cache_dir
    >>> cache_dir().name == source_key()
    True
    """
    return cache_base() / "numba" / _key()


class KeyedLocator(_CacheLocator):
    """Numba cache locator for the kernels of this folder: all in :func:`cache_dir`
    (a keyed folder under the temporary folder if that one cannot be written), stamped
    with :func:`source_key` so an entry written by other sources is never loaded."""

    def __init__(self, py_func, root: Path):
        self._lineno = py_func.__code__.co_firstlineno
        self._path = str(root)  # Numba names each entry "<module>.<qualname>-<line>"

    def get_cache_path(self) -> str:
        return self._path

    def get_source_stamp(self) -> str:
        return _key()

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != HERE:
            return None  # not ours: Numba's usual locators decide
        fallback = Path(tempfile.gettempdir()) / f"meanfield-{os.getuid()}" / "numba" \
            / _key() if hasattr(os, "getuid") else None
        for root in (cache_dir(), fallback):
            if root is None:
                continue
            locator = cls(py_func, root)
            try:
                locator.ensure_cache_path()
            except OSError:
                continue
            return locator
        return None


def install() -> None:
    """Put :class:`KeyedLocator` first among Numba's cache locators (once); it answers
    only for functions defined in this folder. Importing :mod:`meanfield.backends.numba`
    calls it.

    >>> from meanfield.backends.numba.cache import install
    >>> install()  # idempotent
    """
    if KeyedLocator not in _IMPL._locator_classes:
        _IMPL._locator_classes.insert(0, KeyedLocator)
