"""Output folders and files: made with clear errors, written whole or not at all (built beside
the final place, then renamed), with the permissions the user's umask gives."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from taskmix.errors import ConfigError


def make_dir(path: str | Path) -> Path:
    """Create the folder ``path`` (and its parents) unless it exists; a path that is a file, or a
    place that cannot be written, is a :class:`ConfigError` naming it."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        blocker = next((q for q in (p, *p.parents) if q.exists() and not q.is_dir()), p)
        raise ConfigError(
            f"{p}: cannot make this folder, {blocker} is a file",
            hint="give --out a folder (new or existing), not a file",
        ) from None
    except NotADirectoryError:
        raise ConfigError(
            f"{p}: cannot make this folder, part of the path is a file",
            hint="give --out a folder (new or existing), not a file",
        ) from None
    except OSError as e:
        raise ConfigError(
            f"{p}: cannot make this folder ({e.strerror})",
            hint="choose an output folder you can write to (--out)",
        ) from None
    return p


def _writable(folder: Path, make):
    """``make()`` (which creates something in ``folder``), with a clear error where it cannot."""
    try:
        return make()
    except OSError as e:
        raise ConfigError(
            f"{folder}: cannot write here ({e.strerror})",
            hint="choose an output folder you can write to",
        ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(path: Path, folder: bool) -> None:
    """Give a file or folder made by ``tempfile`` (0600 / 0700) the mode a plain open or mkdir
    would: 0666 / 0777 less the umask."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


@contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file beside ``path``; it replaces ``path`` only if the block succeeds."""
    p = Path(path)
    make_dir(p.parent)
    fd, tmp = _writable(
        p.parent, lambda: tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    )
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        _publish(Path(tmp), folder=False)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only if the block succeeds."""
    final = Path(path)
    make_dir(final.parent)
    tmp = Path(
        _writable(
            final.parent, lambda: tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.")
        )
    )
    try:
        yield tmp
        _publish(tmp, folder=True)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def inside(root: str | Path, *parts: str) -> Path:
    """``root / parts…``, refusing a path that would leave ``root`` (names from a user's files
    must not write outside the output folder)."""
    base = Path(root).resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):
        raise ConfigError(
            f"{'/'.join(parts)!r} would be written outside the output folder {root}",
            hint="use names of letters, digits, '_', '.' and '-'",
        )
    return Path(root).joinpath(*parts)
