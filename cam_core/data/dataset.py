"""The data-set layout, in one place: class folders, the ``masks/`` folder, mask names and ``manifest.csv``.

A labelled data set is a folder with one subfolder per class (``ok/``, ``ng/``, …; images searched
recursively) and, optionally:

- a **masks folder** :data:`MASKS_FOLDER` (``masks/``, any letter case: ``Masks/`` too) holding one
  binary defect mask per defective image (in subfolders too). A masks folder is never a class, wherever it is (also
  ``ng/masks/``), and its images are never class images (:func:`is_masks_folder`);
- a **manifest** :data:`MANIFEST_FILE` (``manifest.csv``) with a ``file`` column (posix path relative to
  the data folder, e.g. ``ng/part7.png``) and optional ``mask`` (a mask path relative to the data folder,
  which wins over the masks folder) and ``defect_type`` columns (:func:`read_manifest`).

**Mask naming rule** (:func:`mask_stems`, :func:`mask_for`, :func:`match_masks`): a mask belongs to
the image with the same file stem, compared case-insensitively after
:func:`~cam_core.data.imaging.sanitize_filename`, or to the image whose stem is the mask's stem without one
of :data:`MASK_SUFFIXES` (``part7_mask.png``, ``part7-gt.png`` → ``part7.jpg``). An exact stem wins over a
suffix match. The same rule serves uploaded masks in the app and mask folders in training and evaluation.

**Finding the data set** in an upload (:func:`find_class_folders`): the folder that holds the class folders
(the given one, or the single folder a ZIP wraps them in), the images per class, the masks folder beside
them, and structured :class:`SkipNote` notes on what was skipped (``kind`` says why, e.g. :data:`NOTE_MASKS`).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cam_core.data.imaging import (
    IMAGE_EXTENSIONS,
    is_hidden_name,
    iter_image_files,
    printable_text,
    sanitize_filename,
)
from cam_core.errors import InputError

__all__ = [
    "MANIFEST_FILE", "MASKS_FOLDER", "MASK_SUFFIXES", "NOTE_HIDDEN", "NOTE_LOOSE_IMAGE", "NOTE_MASKS",
    "NOTE_NON_IMAGE", "ClassFolderSummary", "MaskMatch", "SkipNote", "class_folders", "find_class_folders",
    "find_masks_folder",
    "folder_masks", "image_stem", "is_masks_folder", "list_images", "manifest_columns", "mask_for", "mask_stems",
    "match_masks", "name_group", "read_manifest", "relative_name",
]

#: Name of the folder holding the defect masks (compared case-insensitively, see :func:`is_masks_folder`).
MASKS_FOLDER = "masks"
#: Optional per-image table of a data set (``file``, ``mask``, ``defect_type``, … columns).
MANIFEST_FILE = "manifest.csv"
#: A mask file named ``<image stem><suffix>`` belongs to that image: ``part7_mask.png`` → ``part7.jpg``.
MASK_SUFFIXES = ("_mask", "-mask", ".mask", "_gt", "-gt")


# --------------------------------------------------------------------------- folders
def is_masks_folder(name: str) -> bool:
    """Whether a folder called ``name`` holds masks (``masks``, ``Masks``, ``MASKS``): never a class."""
    return name.lower() == MASKS_FOLDER


def find_masks_folder(root: str | os.PathLike[str]) -> Path | None:
    """The masks folder directly inside ``root`` (``masks/`` preferred over other spellings), or ``None``."""
    base = Path(root)
    exact = base / MASKS_FOLDER
    if exact.is_dir():
        return exact
    try:
        found = sorted(p for p in base.iterdir() if p.is_dir() and is_masks_folder(p.name))
    except OSError:
        return None
    return found[0] if found else None


def class_folders(root: str | os.PathLike[str]) -> list[Path]:
    """The candidate class folders of ``root``: its subfolders, sorted by name, without masks or hidden ones."""
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"data folder not found: {base}")
    return sorted((p for p in base.iterdir()
                   if p.is_dir() and not is_masks_folder(p.name) and not is_hidden_name(p.name)),
                  key=lambda p: p.name)


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files of one class folder, recursively, sorted; hidden entries and masks folders skipped."""
    base = Path(folder)
    files = iter_image_files(base)
    return [f for f in files if not any(is_masks_folder(part) for part in f.relative_to(base).parts[:-1])]


def relative_name(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> str:
    """``path`` relative to ``root`` in posix form as written (symlinked folders keep their names), else resolved.

    This is the key of :func:`read_manifest` rows. A path outside ``root`` is returned as given.
    """
    path, base = Path(path), Path(root)
    for candidate, anchor in ((path.absolute(), base.absolute()), (path.resolve(), base.resolve())):
        try:
            return candidate.relative_to(anchor).as_posix()
        except ValueError:
            continue
    return path.as_posix()


# --------------------------------------------------------------------------- manifest
def read_manifest(root: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """``manifest.csv`` rows keyed by their ``file`` column (``\\`` read as ``/``); ``{}`` when there is none.

    Raises :class:`InputError` for a file that is not a CSV with a ``file`` column.
    """
    path = Path(root) / MANIFEST_FILE
    if not path.is_file():
        return {}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return {row["file"].replace("\\", "/"): row for row in csv.DictReader(fh) if row.get("file")}
    except (OSError, UnicodeDecodeError, KeyError, csv.Error) as exc:
        raise InputError(f"{path} cannot be read as a CSV with a 'file' column ({exc})") from None


def manifest_columns(root: str | os.PathLike[str]) -> tuple[str, ...]:
    """The column names on the manifest's first line; ``()`` when there is no readable manifest."""
    path = Path(root) / MANIFEST_FILE
    try:
        with open(path, encoding="utf-8") as fh:
            header = fh.readline()
    except (OSError, UnicodeDecodeError):
        return ()
    return tuple(header.rstrip("\r\n").split(",")) if header.strip() else ()


# --------------------------------------------------------------------------- mask naming rule
def image_stem(name: str) -> str:
    """The stem names are matched by: sanitized (:func:`~cam_core.data.imaging.sanitize_filename`), lower case."""
    return Path(sanitize_filename(str(name), "mask")).stem.lower()


def mask_stems(name: str) -> tuple[str, ...]:
    """The image stems a mask file name may belong to: ``part7_mask.png`` → ``("part7_mask", "part7")``.

    The first is the mask's own stem (an exact match), then the stem without each matching
    :data:`MASK_SUFFIXES` entry (never leaving an empty stem).
    """
    stem = image_stem(name)
    stems = [stem]
    for suffix in MASK_SUFFIXES:
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stems.append(stem[: -len(suffix)])
    return tuple(stems)


def mask_for(image_name: str, candidate_names: Iterable[str]) -> str | None:
    """The mask among ``candidate_names`` that belongs to ``image_name`` (see the module's naming rule), or ``None``.

    An exact stem match wins over a suffix match; among equals the first candidate wins.
    """
    stem = image_stem(image_name)
    fallback = None
    for name in candidate_names:
        stems = mask_stems(name)
        if stems[0] == stem:
            return name
        if fallback is None and stem in stems[1:]:
            fallback = name
    return fallback


@dataclass(frozen=True)
class MaskMatch:
    """Which mask goes to which image (all by index into the lists given to :func:`match_masks`)."""

    masks: dict[int, int]                 # image index → mask index
    unmatched: tuple[int, ...]            # masks that belong to no image
    ignored: tuple[tuple[int, int], ...]  # (mask, image): the image already had an earlier mask


def match_masks(image_names: Sequence[str], mask_names: Sequence[str]) -> MaskMatch:
    """Give each image at most one mask by the naming rule.

    Each mask goes to every image with the first of its :func:`mask_stems` that names an image (so
    ``part7_mask.png`` goes to ``part7_mask.jpg`` when there is one, else to ``part7.jpg``). An image
    keeps the first mask that reaches it; later ones are listed in ``ignored``.
    """
    by_stem: dict[str, list[int]] = {}
    for i, name in enumerate(image_names):
        by_stem.setdefault(image_stem(name), []).append(i)
    chosen: dict[int, int] = {}
    unmatched: list[int] = []
    ignored: list[tuple[int, int]] = []
    for m, name in enumerate(mask_names):
        targets = next((by_stem[stem] for stem in mask_stems(name) if stem in by_stem), None)
        if targets is None:
            unmatched.append(m)
            continue
        for index in targets:
            if index in chosen:
                ignored.append((m, index))
            else:
                chosen[index] = m
    return MaskMatch(masks=chosen, unmatched=tuple(unmatched), ignored=tuple(ignored))


def folder_masks(root: str | os.PathLike[str], images: Sequence[Path],
                 manifest: Mapping[str, Mapping[str, str]] | None = None) -> dict[Path, Path | None]:
    """The mask file of each image of a data set in ``root``, ``None`` for an image without one.

    A manifest row's ``mask`` column (relative to ``root``) wins, whether or not the file exists (a
    missing listed mask is then reported as missing); otherwise the masks folder (:func:`find_masks_folder`,
    searched recursively: ``masks/ng/part7.png`` too) is searched by the naming rule, exact stem first.
    Among masks of the same stem, the one directly in the masks folder wins, then ``.png``, then name order.
    """
    base = Path(root)
    rows = manifest if manifest is not None else read_manifest(base)
    folder = find_masks_folder(base)
    files = iter_image_files(folder) if folder is not None else []
    ranked = sorted(files, key=lambda p: (len(p.parts), p.suffix.lower() != ".png", p.as_posix()))
    exact: dict[str, Path] = {}
    stripped: dict[str, Path] = {}
    for path in ranked:
        stems = mask_stems(path.name)
        exact.setdefault(stems[0], path)
        for stem in stems[1:]:
            stripped.setdefault(stem, path)
    found: dict[Path, Path | None] = {}
    for image in images:
        listed = rows.get(relative_name(image, base), {}).get("mask", "")
        if listed:
            found[image] = base / listed
            continue
        stem = image_stem(image.name)
        found[image] = exact.get(stem) or stripped.get(stem)
    return found


#: :attr:`SkipNote.kind` values: what was skipped.
NOTE_NON_IMAGE, NOTE_HIDDEN, NOTE_MASKS, NOTE_LOOSE_IMAGE = "non_image", "hidden", "masks", "loose_image"
_WORDS = {
    NOTE_NON_IMAGE: ("non-image file", "non-image files"),
    NOTE_HIDDEN: ("hidden or system entry", "hidden or system entries"),
    NOTE_MASKS: ("'masks' folder (masks are not a class)", "'masks' folders (masks are not a class)"),
    NOTE_LOOSE_IMAGE: ("image outside the class folders", "images outside the class folders"),
}
_MAX_NESTING = 4
_EXAMPLES = 3


@dataclass(frozen=True)
class SkipNote:
    """Entries of one folder skipped for one reason (``kind``: one of the ``NOTE_*`` constants)."""

    where: str                # the folder, printable
    kind: str
    names: tuple[str, ...]    # the skipped entries, relative to ``where``

    @property
    def text(self) -> str:
        """``"ng: skipped 1 non-image file (readme.txt)"``: at most three names shown."""
        shown = [printable_text(name, 60) for name in self.names[:_EXAMPLES]]
        examples = ", ".join(shown) + (", …" if len(self.names) > _EXAMPLES else "")
        singular, plural = _WORDS[self.kind]
        return f"{self.where}: skipped {len(self.names)} {singular if len(self.names) == 1 else plural} ({examples})"

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class ClassFolderSummary:
    """Where the class folders are and what they hold."""

    root: Path  # the folder that holds one subfolder per class
    classes: tuple[str, ...]  # sorted class folder names, "masks" ignored
    counts: dict[str, int] = field(hash=False)  # images per class (recursive)
    skipped: tuple[str, ...]  # user-facing notes on skipped entries (the texts of ``notes``)
    notes: tuple[SkipNote, ...] = ()  # the same notes, structured
    masks_folder: Path | None = None  # the masks folder beside the class folders (any letter case), if any
    mask_files: int = 0               # image files in ``masks_folder`` (recursively)

    @property
    def has_masks(self) -> bool:
        """Whether there is a masks folder beside the class folders with at least one image in it."""
        return self.mask_files > 0

    def notes_except(self, *kinds: str) -> tuple[str, ...]:
        """The note texts without those of ``kinds`` (e.g. ``NOTE_MASKS`` where a masks folder is expected)."""
        return tuple(note.text for note in self.notes if note.kind not in kinds)


# --------------------------------------------------------------------------- class folders


@dataclass
class _Scan:
    dirs: list[Path]
    images: list[str]
    others: list[str]
    hidden: list[str]
    masks: list[str]


def find_class_folders(
    root: str | os.PathLike[str], *, min_classes: int = 2, min_images_per_class: int = 1
) -> ClassFolderSummary:
    """Find the folder holding one subfolder per class under ``root``.

    That folder is ``root`` itself or, when ``root`` only wraps a single folder without images
    (ZIPs often contain ``mydata/ok``, ``mydata/ng``), that nested folder (up to 4 levels).
    A class folder's images are counted recursively (``ok/batch1/*.png`` counts as ``ok``);
    ``masks`` folders, hidden entries and non-image files are skipped with a note. Raises
    :class:`InputError` for a missing root, no images, a single class, or too-small classes.
    """
    base = Path(root)
    shown = printable_text(str(base))
    if not base.is_dir():
        raise InputError(f"'{shown}' is not a folder. Give the folder that holds one subfolder per class.")
    skipped: list[SkipNote] = []
    top, scan = _descend(base, skipped)
    counts: dict[str, int] = {}
    for folder in scan.dirs:
        counts[folder.name] = _count_class_images(folder, skipped)
    _note_top_level(top, scan, skipped)
    _validate_classes(base, top, scan, counts, min_classes, min_images_per_class)
    classes = tuple(sorted(counts))
    masks = find_masks_folder(top)
    return ClassFolderSummary(
        root=top,
        classes=classes,
        counts={name: counts[name] for name in classes},
        skipped=tuple(note.text for note in skipped),
        notes=tuple(skipped),
        masks_folder=masks,
        mask_files=len(iter_image_files(masks)) if masks is not None else 0,
    )


def _scan(folder: Path) -> _Scan:
    result = _Scan(dirs=[], images=[], others=[], hidden=[], masks=[])
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise InputError(
            f"Cannot read the folder '{printable_text(str(folder))}': {exc.strerror or exc}."
        ) from exc
    for entry in entries:
        if is_hidden_name(entry.name):
            result.hidden.append(entry.name)
        elif entry.is_dir(follow_symlinks=False) and is_masks_folder(entry.name):
            result.masks.append(entry.name)
        elif entry.is_dir(follow_symlinks=False):
            result.dirs.append(Path(entry.path))
        elif _is_image_name(entry.name):
            result.images.append(entry.name)
        else:
            result.others.append(entry.name)
    return result


def _is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def _descend(base: Path, skipped: list[SkipNote]) -> tuple[Path, _Scan]:
    current, scan = base, _scan(base)
    for _ in range(_MAX_NESTING):
        if len(scan.dirs) != 1 or scan.images:
            break
        inner = _scan(scan.dirs[0])
        if inner.images or not inner.dirs:
            break
        _note_top_level(current, scan, skipped)
        current, scan = scan.dirs[0], inner
    return current, scan


def _count_class_images(folder: Path, skipped: list[SkipNote]) -> int:
    count = 0
    others: list[str] = []
    hidden: list[str] = []
    masks: list[str] = []
    for current, dirnames, filenames in os.walk(folder, followlinks=False):
        rel = Path(current).relative_to(folder)
        keep = []
        for name in sorted(dirnames):
            if is_hidden_name(name):
                hidden.append((rel / name).as_posix())
            elif is_masks_folder(name):
                masks.append((rel / name).as_posix())
            else:
                keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            if is_hidden_name(name):
                hidden.append((rel / name).as_posix())
            elif _is_image_name(name):
                count += 1
            else:
                others.append((rel / name).as_posix())
    where = printable_text(folder.name, 60)
    _add_note(skipped, where, NOTE_NON_IMAGE, others)
    _add_note(skipped, where, NOTE_HIDDEN, hidden)
    _add_note(skipped, where, NOTE_MASKS, masks)
    return count


def _note_top_level(folder: Path, scan: _Scan, skipped: list[SkipNote]) -> None:
    where = printable_text(folder.name or str(folder), 60)
    _add_note(skipped, where, NOTE_HIDDEN, scan.hidden)
    _add_note(skipped, where, NOTE_MASKS, scan.masks)
    _add_note(skipped, where, NOTE_NON_IMAGE, scan.others)
    _add_note(skipped, where, NOTE_LOOSE_IMAGE, scan.images)


def _add_note(skipped: list[SkipNote], where: str, kind: str, names: list[str]) -> None:
    if names:
        skipped.append(SkipNote(where=where, kind=kind, names=tuple(names)))


def _validate_classes(
    base: Path, top: Path, scan: _Scan, counts: dict[str, int], min_classes: int, min_images: int
) -> None:
    where = printable_text(str(top))
    if not any(counts.values()) and not scan.images:
        raise InputError(
            f"No image files found in '{printable_text(str(base))}' (looked for {', '.join(IMAGE_EXTENSIONS)}). "
            "Put the images in one subfolder per class, e.g. ok/ and ng/."
        )
    if not counts:
        raise InputError(
            f"'{where}' holds {len(scan.images)} images directly but no class folders. Put them in one "
            "subfolder per class, e.g. ok/ and ng/."
        )
    small = [name for name in sorted(counts) if counts[name] < min_images]
    if small:
        listed = ", ".join(f"'{printable_text(name, 60)}' ({counts[name]})" for name in small)
        need = "at least 1 image" if min_images == 1 else f"at least {min_images} images"
        raise InputError(
            f"Class folder(s) {listed} in '{where}' have too few images: every class needs {need}. "
            "Add images, or remove folders that are not classes."
        )
    if len(counts) < min_classes:
        found = ", ".join(f"'{printable_text(name, 60)}'" for name in sorted(counts))
        raise InputError(
            f"Found only {found} in '{where}'; need at least {_number(min_classes)} class folders "
            "such as ok/ and ng/."
        )


def _number(value: int) -> str:
    words = {2: "two", 3: "three", 4: "four", 5: "five"}
    return words.get(value, str(value))


def name_group(pattern: str) -> Callable[[str], str | None]:
    """The group of a file name (an acquisition run, a batch, a camera): the first match of the regular expression
    ``pattern`` in it (``exp\\d+`` gives ``exp3`` for ``exp3_0012.png``), None where it does not match. The one
    rule behind ``train --group-pattern`` and ``reference --group-pattern``; a bad pattern is an InputError."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise InputError(f"group pattern {pattern!r} is not a valid regular expression ({exc})") from None

    def group(name: str) -> str | None:
        match = regex.search(name)
        return match.group(0) if match else None

    return group
