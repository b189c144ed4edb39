"""What every vendor loader returns (:class:`Replay`) and how companion files are found.

Vendors ship a match as several files: raw positions plus metadata (pitch size, teams, periods),
or one file per team. A loader is given the raw file and finds the others next to it by the
provider's naming convention (``tracab_raw.dat`` -> ``tracab_meta.xml``), unless told where they
are; when it cannot, :class:`~arenaflow.errors.MissingCompanionFile` names what it looked for.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "match_raw.dat").write_text(""), (folder / "match_meta.xml").write_text("")
    >>> companion(folder / "match_raw.dat", "tracab", "meta_data", [("raw", "meta")], [".xml"]).name
    'match_meta.xml'
    >>> companion(folder / "match_raw.dat", "tracab", "lineup", [("raw", "lineup")], [".json"])
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    arenaflow.errors.MissingCompanionFile: tracab: no lineup file for match_raw.dat; looked for ...
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from arenaflow.errors import MissingCompanionFile, SourceError
from arenaflow.sports.fields import Field
from arenaflow.sports.schemas import Sport
from arenaflow.sports.sources.items import Item


@dataclass(frozen=True, slots=True)
class Athlete:
    """A player named in a vendor file's metadata.

    Attributes:
        id: Id as it appears on the wire (``TrackedObject.id``, ``GameEvent.player_id``).
        team: ``"home"`` or ``"away"``.
        name: Full name, when the file has it.
        jersey: Shirt number.
        position: Position name, when known.
    """

    id: str
    team: str
    name: str | None = None
    jersey: int | None = None
    position: str | None = None


@dataclass(frozen=True)
class Replay:
    """A loaded vendor file: what it holds and, on iteration, its items in time order.

    Items are converted when iterated (each iteration starts from the beginning), so a long match
    is never held twice in memory.

    Attributes:
        provider: Provider name (a key of ``PROVIDERS``).
        game_id: The game id the items carry (also their key).
        sport: The sport.
        field: The field with this match's own dimensions (metres, origin at the centre spot).
        fps: Frames per second of tracking data (None for event data).
        records: Frames (tracking) or events in the file.
        athletes: Players named in the metadata.
        files: The files read, by role (``raw_data``, ``meta_data``, ...).
        notes: What the loader had to assume (e.g. a default pitch size the file does not give).
    """

    provider: str
    game_id: str
    sport: Sport
    field: Field
    fps: float | None
    records: int
    athletes: tuple[Athlete, ...]
    files: dict[str, Path]
    produce: Callable[[], Iterator[Item]] = dataclasses.field(repr=False)
    notes: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[Item]:
        return self.produce()

    def __len__(self) -> int:
        return self.records


def _swap(name: str, old: str, new: str) -> str | None:
    """``name`` with the last ``old`` (any case) replaced by ``new`` in the same case style."""
    matches = list(re.finditer(re.escape(old), name, re.IGNORECASE))
    if not matches:
        return None
    m = matches[-1]
    found = m.group(0)
    if found.isupper():
        new = new.upper()
    elif found[:1].isupper():
        new = new[:1].upper() + new[1:]
    return name[: m.start()] + new + name[m.end() :]


def find_companion(
    path: Path,
    swaps: Sequence[tuple[str, str]],
    suffixes: Sequence[str],
    *,
    appends: Sequence[str] = (),
    globs: Sequence[str] = (),
) -> tuple[Path | None, list[str]]:
    """The file that belongs with ``path`` (or None) and the names looked for.

    Tries the file name with each ``(old, new)`` swap (case kept) and each suffix; the stem plus
    each of ``appends`` and each suffix; then each glob in the folder when it matches exactly one
    other file.
    """
    candidates: list[Path] = []
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    for old, new in swaps:
        swapped = _swap(stem, old, new)
        if swapped is not None:
            candidates += [path.with_name(swapped + suffix) for suffix in suffixes]
    for extra in appends:
        candidates += [path.with_name(stem + extra + suffix) for suffix in suffixes]
    looked = list(dict.fromkeys(c.name for c in candidates if c != path)) + list(globs)
    for candidate in candidates:
        if candidate != path and candidate.is_file():
            return candidate, looked
    for pattern in globs:
        found = [p for p in path.parent.glob(pattern) if p != path and p.is_file()]
        if len(found) == 1:
            return found[0], looked
    return None, looked


def companion(
    path: Path,
    provider: str,
    role: str,
    swaps: Sequence[tuple[str, str]],
    suffixes: Sequence[str],
    explicit: str | Path | None = None,
    *,
    appends: Sequence[str] = (),
    globs: Sequence[str] = (),
) -> Path:
    """The ``role`` file of ``path``: ``explicit`` when given, else found by
    :func:`find_companion`.

    Raises:
        MissingCompanionFile: naming the files looked for (or ``explicit``, when it is missing).
    """
    if explicit is not None:
        given = Path(explicit)
        if not given.is_file():
            raise MissingCompanionFile(f"{provider}: the {role} file {given} does not exist")
        return given
    found, looked = find_companion(path, swaps, suffixes, appends=appends, globs=globs)
    if found is None:
        raise MissingCompanionFile(
            f"{provider}: no {role} file for {path.name}; looked for {', '.join(looked)}; "
            f"pass {role}=PATH (--meta on the command line)"
        )
    return found


def require_file(path: str | Path, provider: str) -> Path:
    """``path`` as a Path; raises MissingCompanionFile naming it when it is not a file."""
    result = Path(path)
    if not result.is_file():
        raise MissingCompanionFile(f"{provider}: the data file {result} does not exist")
    return result


def default_game_id(path: Path) -> str:
    """A game id from a file name: its match number (4+ digits) when it has one, else the stem."""
    digits = re.findall(r"\d{4,}", path.stem)
    return digits[0] if digits else path.stem


def source_error(provider: str, path: Path, exc: Exception) -> SourceError:
    """A SourceError for a file the provider's parser rejected, keeping the parser's message."""
    return SourceError(f"{provider}: cannot read {path.name}: {type(exc).__name__}: {exc}")
