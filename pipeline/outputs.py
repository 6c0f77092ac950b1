"""Atomic outputs that never touch an input (DESIGN.md §4-5).

A stage writes into a temporary sibling of its destination; only on success is it renamed into place,
so a failure never leaves a folder or file that looks finished.

Inputs are sacred. Before anything is created or removed, the destination and every input are
resolved (symlinks followed) and compared: an output equal to, inside, or containing an input is a
usage error. ``--force`` replaces only a folder that an earlier run of ours wrote, recognised by the
marker file :data:`MARKER` that :func:`staged_directory` puts in every result folder; a folder
without it (a patient's study, a home directory) is never removed, with or without ``--force``.
"""

from __future__ import annotations

import contextvars
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import UsageError

MARKER = ".cordotomy-output"
# The subcommand that is writing (set by the command line); recorded in the marker.
_COMMAND: contextvars.ContextVar[str] = contextvars.ContextVar("cordotomy_command", default="python-api")


@contextmanager
def command_context(name: str) -> Iterator[None]:
    """Record ``name`` (e.g. ``"segment"``) as the command that writes outputs inside the block."""
    token = _COMMAND.set(name)
    try:
        yield
    finally:
        _COMMAND.reset(token)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _resolve(path: str | Path) -> Path:
    """Absolute path with every symlink (also of a dangling final component) followed."""
    try:
        return Path(path).expanduser().resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise UsageError(f"cannot resolve path {path} ({exc})") from exc


def _is_within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output_against_inputs(destination: str | Path, inputs: Sequence[str | Path]) -> Path:
    """The resolved ``destination``; a UsageError naming both if it equals, lies inside or contains an input.

    The raw input path is checked too: a symlink inside ``destination`` that points elsewhere still
    lives in ``destination`` and would be removed with it.
    """
    out = _resolve(destination)
    for given in inputs:
        candidates = {_resolve(given), Path(os.path.abspath(Path(given).expanduser()))}
        for source in candidates:
            if out == source:
                raise UsageError(f"output {destination} is the input {given}; choose another output")
            if _is_within(out, source):
                raise UsageError(f"output {destination} lies inside the input {given}; choose another output")
            if _is_within(source, out):
                raise UsageError(f"output {destination} contains the input {given}; choose another output")
    return out


def read_marker(folder: Path) -> dict[str, str] | None:
    """The marker of a result folder written by us, or None."""
    marker = folder / MARKER
    try:
        document = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and document.get("tool") == "cordotomy" else None


def _write_marker(folder: Path) -> None:
    from pipeline import __version__

    document = {"tool": "cordotomy", "version": __version__, "command": _COMMAND.get()}
    (folder / MARKER).write_text(json.dumps(document, sort_keys=True) + "\n", encoding="utf-8")


def _check_parent(out: Path, destination: str | Path) -> None:
    """The nearest existing ancestor must be a writable folder (checked, nothing created)."""
    ancestor = out.parent
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise UsageError(f"output {destination}: {ancestor} is a dangling symbolic link")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"output {destination}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"output {destination}: folder {ancestor} is not writable")
    try:  # the only sure test (root, read-only mounts, pseudo file systems): make and remove a probe
        os.rmdir(tempfile.mkdtemp(prefix=".cordotomy-probe-", dir=ancestor))
    except OSError as exc:
        raise UsageError(f"output {destination}: cannot write in {ancestor} ({exc.strerror or exc})") from exc


def _make_parents(out: Path, destination: str | Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"output {destination}: cannot create {out.parent} ({exc.strerror or exc})") from exc


def check_output_directory(
    destination: str | Path, *, force: bool = False, inputs: Sequence[str | Path] = ()
) -> Path:
    """Validate an output folder without creating anything; returns it resolved.

    Commands call this before their (long) analysis, so that a refused output costs nothing;
    :func:`staged_directory` calls it again just before writing.
    """
    out = check_output_against_inputs(destination, inputs)
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {destination} exists and is not a folder")
    if out.is_dir():
        try:
            non_empty = any(out.iterdir())
        except OSError as exc:
            raise UsageError(f"output folder {destination} cannot be read ({exc.strerror or exc})") from exc
        if non_empty:
            if not force:
                raise UsageError(f"output folder {destination} is not empty; use --force to replace it")
            if read_marker(out) is None:
                raise UsageError(
                    f"output folder {destination} is not empty and was not written by cordotomy (no {MARKER} "
                    "marker); refusing to replace it even with --force"
                )
    _check_parent(out, destination)
    return out


@contextmanager
def staged_directory(
    destination: str | Path, *, force: bool = False, inputs: Sequence[str | Path] = ()
) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``destination`` when the block succeeds.

    Validated before anything is created: ``destination`` must not equal, lie inside or contain any of
    ``inputs``; an existing non-empty ``destination`` is refused unless ``force`` is true *and* it holds
    our marker (an earlier result), in which case it is replaced only after the new result is complete.
    """
    out = check_output_directory(destination, force=force, inputs=inputs)
    _make_parents(out, destination)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise UsageError(
            f"output {destination}: cannot write in {out.parent} ({exc.strerror or exc})"
        ) from exc
    # mkdtemp makes the folder private (0700); a result folder gets the permissions mkdir would give.
    staging.chmod(0o777 & ~_current_umask())
    try:
        yield staging
        _write_marker(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        retired = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(retired)
        staging.rename(out)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(out)


def check_output_files(
    *destinations: str | Path, force: bool = False, inputs: Sequence[str | Path] = ()
) -> list[Path]:
    """Validate output files without creating anything; returns them resolved."""
    targets = []
    for destination in destinations:
        out = check_output_against_inputs(destination, inputs)
        if out.is_dir():
            raise UsageError(f"output {destination} is a folder; give a file name")
        targets.append(out)
    existing = [d for d, t in zip(destinations, targets, strict=True) if t.exists()]
    if existing and not force:
        raise UsageError(f"output {existing[0]} exists; use --force to replace it")
    for target, destination in zip(targets, destinations, strict=True):
        _check_parent(target, destination)
    return targets


@contextmanager
def staged_files(
    *destinations: str | Path, force: bool = False, inputs: Sequence[str | Path] = ()
) -> Iterator[list[Path]]:
    """Yield temporary paths for several files that are renamed into place together on success.

    Used where one result is several sibling files (``OUT.nii.gz`` with ``OUT.bval`` and ``OUT.bvec``).
    A destination never replaces an input file (nor a folder), even with ``force``.
    """
    targets = check_output_files(*destinations, force=force, inputs=inputs)
    for target, destination in zip(targets, destinations, strict=True):
        _make_parents(target, destination)
    # Keep the suffix so that writers that choose the format by extension (nibabel) still work.
    temporaries = [t.with_name(f".partial-{os.getpid()}-{t.name}") for t in targets]
    for temporary, destination in zip(temporaries, destinations, strict=True):
        try:  # a read-only folder fails here, before any writer starts, rather than inside one
            temporary.touch()
        except OSError as exc:
            for made in temporaries:
                made.unlink(missing_ok=True)
            raise UsageError(
                f"output {destination}: cannot write in {temporary.parent} ({exc.strerror or exc})"
            ) from exc
    try:
        yield temporaries
    except BaseException:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, target in zip(temporaries, targets, strict=True):
        if temporary.exists():
            os.replace(temporary, target)
