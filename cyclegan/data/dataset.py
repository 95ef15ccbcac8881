"""The dataset on disk: the original layout, its index, and a check that names every bad file.

Layout (docs/DESIGN.md section 1)::

    ROOT/monet/*.jpg   ROOT/photo/*.jpg   ROOT/data.csv   (columns ``,name,path``; path = domain)

Pillow does the checking because it tells apart *why* a file is bad (empty, truncated, not an image,
too large); the training pipeline decodes with ``tf.io`` and only ever sees files that passed.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cyclegan.data.images import ImageTooLarge, UnreadableImage, open_image
from cyclegan.errors import CycleganError
from cyclegan.names import IMAGE_SUFFIXES

DOMAINS = ("monet", "photo")
INDEX_FILE = "data.csv"


class DataError(CycleganError, ValueError):
    """The dataset cannot be used; the message names the files and what is wrong with them."""


@dataclass(frozen=True)
class Problem:
    path: str
    kind: str
    detail: str
    fatal: bool = True


@dataclass(frozen=True)
class DataReport:
    root: Path
    files: dict[str, tuple[Path, ...]]
    """Usable files per domain, in index order."""
    problems: tuple[Problem, ...]
    conversions: Counter = field(default_factory=Counter)
    """How many usable images need a conversion (``grayscale->RGB``, ``resize``...)."""

    @property
    def fatal(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.fatal)

    def summary(self) -> str:
        lines = [f"{self.root}: " + ", ".join(f"{d} {len(self.files.get(d, ()))} usable" for d in DOMAINS)]
        for kind, count in sorted(Counter(p.kind for p in self.problems).items()):
            severity = "error" if any(p.fatal for p in self.problems if p.kind == kind) else "warning"
            lines.append(f"  {count:5d} x {kind} ({severity})")
        for problem in self.problems:
            lines.append(f"    {problem.path}: {problem.kind}: {problem.detail}")
        for kind, count in sorted(self.conversions.items()):
            lines.append(f"  {count:5d} x converted on load: {kind}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Index


def write_index(root: str | Path) -> Path:
    """Scan ``root/monet`` and ``root/photo`` and write ``data.csv`` in the original format."""
    root = Path(root)
    rows = []
    for domain in DOMAINS:
        folder = root / domain
        if not folder.is_dir():
            raise DataError(f"{folder}: domain folder missing (expected {', '.join(DOMAINS)} under {root})")
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        undecodable = [n for n in names if not is_utf8_name(n)]
        if undecodable:  # data.csv is UTF-8: such a name cannot be indexed (nor shown as it is)
            raise DataError(f"{folder / shown_name(undecodable[0])}: the file name is not valid UTF-8 "
                            f"({len(undecodable)} such file(s) in {folder}); rename it, e.g. with only ASCII letters and digits")
        rows += [{"name": name, "path": domain} for name in names]
    index_path = root / INDEX_FILE
    pd.DataFrame(rows, columns=["name", "path"]).to_csv(index_path)
    return index_path


def is_utf8_name(name: str) -> bool:
    """False for a file name whose bytes are not UTF-8 (Python keeps them as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown_name(name: str) -> str:
    """A file name as printable text: bytes that are not UTF-8 as ``\\xNN``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def read_index(root: Path) -> pd.DataFrame:
    index_path = root / INDEX_FILE
    if not root.is_dir():  # data.root itself is wrong: indexing it would fail too
        raise DataError(f"{root}: no such data folder (data.root); it holds {' and '.join(f'{d}/' for d in DOMAINS)} with the "
                        f"images, and {INDEX_FILE} from `cyclegan data index`")
    if not index_path.is_file():
        raise DataError(f"{index_path}: no index; create it with `cyclegan data index {root}`")
    try:
        frame = pd.read_csv(index_path, index_col=0, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{index_path}: not a readable CSV: {err}") from None
    missing = {"name", "path"} - set(frame.columns)
    if missing:
        raise DataError(f"{index_path}: missing column(s) {sorted(missing)}; expected ',name,path'")
    return frame


# ---------------------------------------------------------------------------------------------
# Check


def check_dataset(root: str | Path, *, image_size: int, max_image_pixels: int, workers: int = 8) -> DataReport:
    """Every problem of the dataset at ``root``, each with the file it concerns.

    Fatal: an index entry that is missing, duplicated, outside its folder, not an image file,
    empty, truncated, undecodable or over ``max_image_pixels``; an empty domain. Warnings: image
    files on disk that the index does not list (they are not used), a content type that does not
    match the suffix (decoded by content, so usable).
    """
    root = Path(root)
    frame = read_index(root)
    problems: list[Problem] = []
    candidates: dict[str, list[Path]] = {d: [] for d in DOMAINS}

    unknown_domains = sorted(set(frame["path"]) - set(DOMAINS))
    for domain in unknown_domains:
        problems.append(Problem(f"{root / INDEX_FILE}", "unknown domain", f"path={domain!r}; expected one of {DOMAINS}"))

    seen: set[tuple[str, str]] = set()
    for name, domain in zip(frame["name"], frame["path"], strict=True):
        if domain not in DOMAINS:
            continue
        shown = f"{domain}/{name}"
        if (domain, name) in seen:
            problems.append(Problem(shown, "duplicate", "listed more than once in data.csv"))
            continue
        seen.add((domain, name))
        path = resolve_inside(root / domain, name)
        if path is None:
            problems.append(Problem(shown, "outside data folder", "the name leaves its domain folder"))
        elif not path.is_file():
            problems.append(Problem(shown, "missing", "listed in data.csv but not on disk"))
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(Problem(shown, "not an image file", f"suffix {path.suffix!r}; expected {IMAGE_SUFFIXES}"))
        else:
            candidates[domain].append(path)

    for domain in DOMAINS:
        folder = root / domain
        if folder.is_dir():
            listed = {n for d, n in seen if d == domain}
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.name not in listed:
                    detail = "on disk but not in data.csv; ignored" + ("" if is_utf8_name(path.name) else " (its name is not valid UTF-8)")
                    problems.append(Problem(f"{domain}/{shown_name(path.name)}", "not indexed", detail, fatal=False))

    conversions: Counter = Counter()
    usable: dict[str, tuple[Path, ...]] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for domain in DOMAINS:
            results = pool.map(lambda p: _inspect_image(p, image_size, max_image_pixels), candidates[domain])
            good = []
            for path, (issue, converted) in zip(candidates[domain], results, strict=True):
                if issue is not None:
                    problems.append(Problem(f"{domain}/{path.name}", issue.kind, issue.detail, issue.fatal))
                if issue is None or not issue.fatal:
                    good.append(path)
                    conversions.update(converted)
            usable[domain] = tuple(good)
            if not good:
                problems.append(Problem(f"{domain}/", "empty domain", "no usable images"))
    return DataReport(root=root, files=usable, problems=tuple(problems), conversions=conversions)


def resolve_inside(folder: Path, name: str) -> Path | None:
    """``folder/name`` if it stays inside ``folder`` (no ``..``, no absolute name, no symlink escape)."""
    candidate = (folder / name).resolve()
    try:
        candidate.relative_to(folder.resolve())
    except ValueError:
        return None
    return candidate if candidate.parent == folder.resolve() else None


_FORMAT_OF_SUFFIX = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


def _inspect_image(path: Path, image_size: int, max_pixels: int) -> tuple[Problem | None, list[str]]:
    """(problem or None, conversions the loader will apply) for one image file."""
    if path.stat().st_size == 0:
        return Problem(str(path), "empty file", "zero bytes"), []
    try:
        with open_image(path, max_pixels) as image:  # the readers' own guard: one rule for "too large"
            width, height = image.size
            image.load()  # full decode: catches truncation and corrupt scans
            mode, fmt = image.mode, image.format
    except ImageTooLarge as err:
        return Problem(str(path), "too large", str(err).removeprefix(f"{path}: too large: ")), []
    except UnreadableImage as err:
        if "truncated" in str(err).lower():  # cut short inside its header (open_image names the file)
            return Problem(str(path), "truncated", str(err).removeprefix(f"cannot read image {path}: ")), []
        return Problem(str(path), "not an image", "Pillow cannot identify the content"), []
    except (OSError, SyntaxError, ValueError) as err:
        kind = "truncated" if "truncated" in str(err).lower() else "corrupt"
        return Problem(str(path), kind, str(err)), []
    if fmt not in ("JPEG", "PNG"):
        return Problem(str(path), "unsupported format", f"{fmt}; the pipeline decodes JPEG and PNG"), []
    converted = []
    if mode != "RGB":
        converted.append(f"{mode}->RGB")
    if (width, height) != (image_size, image_size):
        converted.append("resize")
    if _FORMAT_OF_SUFFIX[path.suffix.lower()] != fmt:
        return Problem(str(path), "format mismatch", f"{fmt} content with suffix {path.suffix}; decoded by content", fatal=False), converted
    return None, converted


def usable_files(report: DataReport) -> dict[str, tuple[Path, ...]]:
    """The files to train on, or a :class:`DataError` naming every unusable one."""
    if report.fatal:
        listed = "\n".join(f"  {p.path}: {p.kind}: {p.detail}" for p in report.fatal)
        raise DataError(
            f"{report.root}: {len(report.fatal)} unusable file(s); fix or remove them "
            f"(then `cyclegan data index {report.root}`):\n{listed}"
        )
    return report.files


# ---------------------------------------------------------------------------------------------
# Hold-out split


def split_holdout(files: Iterable[Path], holdout: int) -> tuple[list[Path], list[Path]]:
    """(train, held_out): the held-out images are chosen by a hash of the file name, so every run
    and every seed of a study is evaluated on the same images, and adding files does not reshuffle
    the choice."""
    ordered = sorted(files, key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())
    return sorted(ordered[holdout:]), ordered[:holdout]
