"""Robust, safe image loading for the CLI, the app, training and evaluation.

Every user-supplied image goes through :func:`load_image`, which returns an 8-bit ``RGB``
:class:`PIL.Image.Image` (EXIF orientation applied) plus user-facing notes on whatever was
changed, or raises :class:`~cam_core.errors.InputError` with a message that names the file, says
what is wrong and what to do. PIL / OS exceptions never escape raw.

Documented limits and policies
------------------------------
- **File size**: files above :data:`MAX_FILE_BYTES` (200 MiB) are refused before they are read.
  Bytes are read once into memory and decoded from there.
- **Pixel count** ("decompression bomb" guard): images whose header declares more than
  :data:`MAX_IMAGE_PIXELS` (50 million) pixels are refused right after the header is parsed,
  before any pixel is decoded. PIL's own ``DecompressionBombError`` / ``DecompressionBombWarning``
  are turned into the same refusal.
- **Aspect ratio**: images more elongated than :data:`MAX_ASPECT` (100:1, either orientation) are
  refused: the network input is square-ish, and squashing e.g. a 20000×50 line-scan strip
  destroys the detail the map is meant to show. Crop or tile such images first. 100:1 itself is
  accepted. A 1×1 image is accepted.
- **Formats**: only the raster formats in :data:`ALLOWED_FORMATS` are decoded (PNG, JPEG/MPO, BMP,
  TIFF, WebP, GIF, PGM/PPM). Other PIL plugins (EPS, PSD, ...) are never invoked. PDF, SVG, HTML,
  XML and text files are recognised from their first bytes and refused with a message naming
  what they are.
- **Truncated files** are refused (PNG, JPEG, ...): decoding uses PIL's default
  ``ImageFile.LOAD_TRUNCATED_IMAGES = False`` (this module never changes it; callers must not set
  it either). JPEGs are additionally checked for an end-of-image marker after the last scan, so a
  truncated JPEG is refused even if that global was switched on elsewhere.
- **Multi-frame files** (animated GIF, multi-page TIFF, MPO): the first frame is used, with a note
  giving the frame count.
- **Colour handling** (each noted in :attr:`LoadedImage.notes`):
  16-bit grayscale is scaled over its full range (0–65535 → 0–255, not clipped); 16-bit colour
  PNG/TIFF keeps the most significant byte (also full range); 32-bit integer / float images are
  scaled as 8/16-bit when their values fit, else min–max stretched; CMYK → RGB (simple inversion,
  no colour profile applied); palette, 1-bit, grayscale ``L`` → RGB; any transparency
  (``RGBA``, ``LA``, ``PA``, palette transparency) is flattened on :data:`BACKGROUND` (white).
  ICC profiles are not applied.
- **EXIF orientation** (tags 2–8) is honoured; the returned ``size`` is after rotation.
- **Names**: :attr:`LoadedImage.name` is :func:`sanitize_filename` of the given name / basename.

Thread safety: decompression-bomb warnings are turned into errors with
``warnings.catch_warnings``, which swaps process-global warning filters for the duration of
``Image.open``; concurrent loads (Streamlit threads) are fine apart from that filter swap racing,
which at worst leaves PIL's bomb warning printed once or raised as an error (both still refused).
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import unicodedata
import warnings
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from cam_core.errors import InputError
from cam_core.options import IMAGE_EXTENSIONS

MAX_IMAGE_PIXELS: int = 50_000_000
MAX_ASPECT: float = 100.0
MAX_FILE_BYTES: int = 200 * 1024 * 1024
ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "MPO", "BMP", "DIB", "TIFF", "WEBP", "GIF", "PPM")
BACKGROUND: tuple[int, int, int] = (255, 255, 255)
MAX_NAME_LENGTH: int = 120

# Everything PIL (and the codecs under it) is known to raise on damaged input.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    zlib.error,
)

_ORIENTATION_TAG = 0x0112
_ORIENTATIONS: dict[int, tuple[Image.Transpose, str]] = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT, "mirrored horizontally"),
    3: (Image.Transpose.ROTATE_180, "rotated 180°"),
    4: (Image.Transpose.FLIP_TOP_BOTTOM, "mirrored vertically"),
    5: (Image.Transpose.TRANSPOSE, "mirrored and rotated 90°"),
    6: (Image.Transpose.ROTATE_270, "rotated 90° clockwise"),
    7: (Image.Transpose.TRANSVERSE, "mirrored and rotated 90°"),
    8: (Image.Transpose.ROTATE_90, "rotated 90° counter-clockwise"),
}
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image ready for the network, plus what was done to get it there."""

    image: Image.Image  # mode "RGB", 8-bit, EXIF orientation applied
    name: str  # display name (sanitized basename)
    notes: tuple[str, ...]  # user-facing notes on every change made
    original_mode: str  # PIL mode of the (first frame of the) file before conversion
    size: tuple[int, int]  # (width, height) after EXIF transpose


# --------------------------------------------------------------------------- names


def printable_text(text: str, limit: int = 200) -> str:
    """``text`` safe to show in a message or terminal: control characters replaced, length capped."""
    cleaned = "".join("?" if unicodedata.category(ch).startswith("C") else ch for ch in str(text))
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def sanitize_filename(name: str, default: str = "file") -> str:
    """A safe basename: charset ``[A-Za-z0-9._-]``, no separators, no ``..``, no leading ``.``/``-``,
    at most 120 characters (extension kept), never empty, not a Windows reserved name.

    Accents are dropped (``é`` → ``e``); other characters become ``_`` (runs collapsed); a name left
    without letters or digits falls back to ``default`` (its extension kept).
    """
    base = _basename(str(name))
    decomposed = unicodedata.normalize("NFKD", base)
    cleaned = _UNSAFE_CHARS.sub("_", "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn"))
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    cleaned = re.sub(r"_{2,}", "_", cleaned)
    cleaned = cleaned.lstrip(".-").rstrip(".")
    stem, ext = _split_ext(cleaned)
    if not stem.strip("_"):
        fallback = sanitize_filename(default, "file") if default != name and default else "file"
        stem = _split_ext(fallback)[0] or "file"
    if stem.upper() in _WINDOWS_RESERVED:
        stem = f"{stem}_"
    if len(ext) > 16:
        stem, ext = stem + ext, ""
    stem = stem[: MAX_NAME_LENGTH - len(ext)]
    return stem + ext


def _basename(name: str) -> str:
    parts = [p for p in re.split(r"[\\/]", name) if p not in ("", ".", "..")]
    return parts[-1] if parts else ""


def _split_ext(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    return name[:dot], name[dot:]


# --------------------------------------------------------------------------- file lists


def iter_image_files(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str], recursive: bool = True,
    on_missing: Callable[[InputError], None] | None = None,
) -> list[Path]:
    """Expand ``paths`` into image files.

    Folders are expanded (recursively unless ``recursive=False``) into the files whose extension is
    in :data:`IMAGE_EXTENSIONS`, sorted by relative path; hidden files and folders (``.name``) and
    ``__MACOSX`` are skipped. Files named explicitly are kept whatever their extension (they are
    checked when loaded). Duplicates are dropped, order is kept. A missing path → ``InputError``, or, with
    ``on_missing``, its error passed to ``on_missing`` and the other paths still listed (a batch goes on).
    A single path may be passed instead of a list. An empty folder gives an empty list.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    result: list[Path] = []
    seen: set[str] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = _images_in_folder(path, recursive)
        elif path.exists():
            found = [path]
        else:
            missing = InputError(
                f"'{printable_text(str(path))}' does not exist. Check the path (and its spelling) and try again."
            )
            if on_missing is None:
                raise missing
            on_missing(missing)
            continue
        for file in found:
            key = os.path.normcase(os.path.abspath(file))
            if key not in seen:
                seen.add(key)
                result.append(file)
    return result


def is_hidden_name(name: str) -> bool:
    """Hidden / OS metadata entries that are never treated as data (``.x``, ``__MACOSX``, ``Thumbs.db``)."""
    return name.startswith(".") or name == "__MACOSX" or name.lower() in ("thumbs.db", "desktop.ini")


def _images_in_folder(folder: Path, recursive: bool) -> list[Path]:
    found: list[tuple[tuple[str, ...], Path]] = []
    for current, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden_name(d)) if recursive else []
        for filename in filenames:
            if is_hidden_name(filename) or Path(filename).suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            file = Path(current) / filename
            if file.is_file():
                found.append((file.relative_to(folder).parts, file))
    return [file for _, file in sorted(found)]


# --------------------------------------------------------------------------- loading


def load_image(source: str | os.PathLike[str] | bytes | BinaryIO, name: str | None = None) -> LoadedImage:
    """Decode ``source`` (a path, raw bytes, or a binary stream such as Streamlit's ``UploadedFile``).

    ``name`` is the display name (defaults to the path's / stream's basename, else ``"image"``).
    Streams are read from their current position. Returns an 8-bit RGB image with EXIF orientation
    applied; raises :class:`InputError` for anything that is not a usable raster image.
    """
    data, default_label = _read_source(source)
    label = printable_text(name if name is not None else default_label)
    display = sanitize_filename(name if name is not None else default_label, default="image")
    notes: list[str] = []
    im = _open_image(data, label)
    try:
        frames = _decode_first_frame(im, data, label)
        if frames > 1:
            notes.append(_frames_note(im.format, frames))
        original_mode = im.mode
        notes.extend(_bit_depth_notes(im, data))
        orientation = _exif_orientation(im, notes)
        rgb = _to_rgb(im, label, notes)
    finally:
        im.close()
    if orientation is not None:
        method, text = _ORIENTATIONS[orientation]
        rgb = rgb.transpose(method)
        notes.append(f"EXIF rotation applied (orientation {orientation}: {text})")
    return LoadedImage(
        image=rgb, name=display, notes=tuple(notes), original_mode=original_mode, size=rgb.size
    )


def _read_source(source: str | os.PathLike[str] | bytes | BinaryIO) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_byte_count(len(data), "image")
        return data, "image"
    if isinstance(source, (str, os.PathLike)):
        return _read_path(Path(source))
    if hasattr(source, "read"):
        stream_name = getattr(source, "name", None)
        label = _basename(stream_name) if isinstance(stream_name, str) and _basename(stream_name) else "image"
        try:
            data = source.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise InputError(
                f"Could not read '{printable_text(label)}': {exc}. Upload or save it again."
            ) from exc
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("load_image needs a binary stream (open the file with 'rb')")
        _check_byte_count(len(data), label)
        return bytes(data), label
    raise TypeError(f"load_image: unsupported source type {type(source).__name__}")


def _read_path(path: Path) -> tuple[bytes, str]:
    label = str(path)
    shown = printable_text(label)
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise InputError(
            f"'{shown}' does not exist. Check the path (and its spelling) and try again."
        ) from exc
    except OSError as exc:
        raise InputError(
            f"Cannot access '{shown}': {exc.strerror or exc}. Check the path and permissions."
        ) from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputError(
            f"'{shown}' is a folder, not an image file. Give an image file "
            f"({', '.join(IMAGE_EXTENSIONS)}), or pass the folder where folders are accepted."
        )
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"'{shown}' is not a regular file (device, pipe or socket). Give an image file.")
    _check_byte_count(info.st_size, label)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(
            f"Cannot read '{shown}': {exc.strerror or exc}. Check the file's permissions."
        ) from exc
    _check_byte_count(len(data), label)
    return data, path.name


def _check_byte_count(size: int, label: str) -> None:
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"'{printable_text(label)}' is {size / 1024**2:.1f} MB; image files above "
            f"{MAX_FILE_BYTES / 1024**2:.0f} MB are refused. Downscale it or save it as PNG/JPEG first."
        )


def _open_image(data: bytes, label: str) -> Image.Image:
    """Sniff, then parse the header only (no pixels decoded yet)."""
    if not data:
        raise InputError(
            f"'{label}' is empty (0 bytes). The file was probably not saved or copied completely."
        )
    kind = _sniff_document(data)
    if kind is not None:
        raise InputError(
            f"'{label}' is {kind}, not a raster image. Export it as PNG or JPEG and load that file instead."
        )
    return _open_header(data, label)


def _decode_first_frame(im: Image.Image, data: bytes, label: str) -> int:
    """Check the declared size, select frame 0 and decode it; returns the frame count."""
    _check_dimensions(im.size, label)
    frames = _frame_count(im, label)
    if frames > 1:
        im.seek(0)
    _check_jpeg_end(im, data, label)
    _decode_pixels(im, label)
    return frames


def _frames_note(image_format: str | None, frames: int) -> str:
    if image_format == "GIF":
        return f"animated GIF: used the first of {frames} frames"
    if image_format == "TIFF":
        return f"multi-page TIFF: used the first of {frames} pages"
    if image_format == "MPO":
        return f"multi-picture JPEG (MPO): used the first of {frames} images"
    return f"multi-frame {image_format or 'image'}: used the first of {frames} frames"


def _open_header(data: bytes, label: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=_registered_formats())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(_bomb_message(label, None)) from exc
    except UnidentifiedImageError as exc:
        raise InputError(_unidentified_message(data, label)) from exc
    except MemoryError as exc:
        raise InputError(_bomb_message(label, None)) from exc
    except _DECODE_ERRORS as exc:
        raise InputError(_damaged_message(label, exc)) from exc


def _registered_formats() -> list[str]:
    Image.init()  # registers every plugin once; cheap afterwards
    return [fmt for fmt in ALLOWED_FORMATS if fmt in Image.OPEN]


def _check_dimensions(size: tuple[int, int], label: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise InputError(f"'{label}' declares an empty size ({width}×{height} px); the file is damaged.")
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(_bomb_message(label, size))
    aspect = max(width, height) / min(width, height)
    if aspect > MAX_ASPECT:
        raise InputError(
            f"'{label}' is {width}×{height} px, an aspect ratio of {aspect:.0f}:1; images more elongated "
            f"than {MAX_ASPECT:.0f}:1 are refused because resizing them for the network destroys the "
            "detail. Crop it, or cut it into roughly square tiles, and load those."
        )


def _bomb_message(label: str, size: tuple[int, int] | None) -> str:
    claim = (
        f"claims {size[0]}×{size[1]} px = {size[0] * size[1] / 1e6:.1f} million pixels"
        if size
        else "is too large to decode"
    )
    return (
        f"'{label}' {claim}; images above {MAX_IMAGE_PIXELS / 1e6:.0f} million pixels are refused "
        "(protection against 'decompression bomb' files). Downscale or crop it first."
    )


def _frame_count(im: Image.Image, label: str) -> int:
    try:
        return int(getattr(im, "n_frames", 1))
    except _DECODE_ERRORS as exc:
        raise InputError(_damaged_message(label, exc)) from exc


def _check_jpeg_end(im: Image.Image, data: bytes, label: str) -> None:
    if im.format in ("JPEG", "MPO") and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        raise InputError(_truncated_message(label))


def _decode_pixels(im: Image.Image, label: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError) as exc:
        raise InputError(_bomb_message(label, im.size)) from exc
    except _DECODE_ERRORS as exc:
        if "truncated" in str(exc).lower():
            raise InputError(_truncated_message(label)) from exc
        raise InputError(_damaged_message(label, exc)) from exc


def _truncated_message(label: str) -> str:
    return (
        f"'{label}' is truncated: the file ends before all of its pixel data (an incomplete download, "
        "copy or camera write). Copy or export the file again."
    )


def _damaged_message(label: str, exc: BaseException) -> str:
    detail = printable_text(str(exc), 120) or type(exc).__name__
    return f"'{label}' is damaged and cannot be decoded ({detail}). Export or copy the file again."


# --------------------------------------------------------------------------- sniffing


def _sniff_document(data: bytes) -> str | None:
    """Name non-raster documents that are recognisable from their first bytes."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%pdf"):
        return "a PDF document"
    if head.startswith(b"%!ps"):
        return "a PostScript/EPS document"
    if not head.startswith(b"<"):
        return None
    if head.startswith(b"<svg") or head.startswith(b"<!doctype svg") or b"<svg" in head:
        return "an SVG (vector) drawing"
    if head.startswith(b"<!doctype html") or b"<html" in head or b"<body" in head or b"<head" in head:
        return "an HTML page (perhaps a web page was saved instead of the image itself)"
    if head.startswith(b"<?xml"):
        return "an XML document"
    return None


def _unidentified_message(data: bytes, label: str) -> str:
    kind = _sniff_other(data)
    if kind is not None:
        return (
            f"'{label}' is {kind}, not a supported image. Save it as PNG or JPEG and load that file instead."
        )
    return (
        f"'{label}' is not an image this tool can read (its content is not PNG, JPEG, BMP, TIFF, WebP, "
        "GIF or PGM/PPM, whatever its extension says). Check that it is really an image, or re-export it as PNG."
    )


def _sniff_other(data: bytes) -> str | None:
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
        return "a HEIC/HEIF photo"
    if data.startswith(b"PK\x03\x04"):
        return "a ZIP archive (or an Office document)"
    if data.startswith(b"8BPS"):
        return "a Photoshop (PSD) file"
    if _looks_like_text(data):
        return "a text file"
    return None


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    if b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:
            return False
        text = sample[: exc.start].decode("utf-8")
    if not text:
        return False
    printable = sum(ch.isprintable() or ch in "\n\r\t\f" for ch in text)
    return printable / len(text) >= 0.95


# --------------------------------------------------------------------------- colour


def _bit_depth_notes(im: Image.Image, data: bytes) -> list[str]:
    """Note 16-bit colour files that PIL already reduced to 8 bits per channel while decoding."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return []  # converted (and noted) by _to_rgb
    if im.format == "PNG" and data[12:16] == b"IHDR" and len(data) > 24 and data[24] == 16:
        return ["16-bit PNG converted to 8-bit (most significant byte kept; full range preserved)"]
    if im.format == "TIFF":
        bits = getattr(im, "tag_v2", {}).get(258)
        bits_tuple = bits if isinstance(bits, tuple) else (bits,)
        if any(isinstance(b, int) and b > 8 for b in bits_tuple):
            return ["16-bit TIFF converted to 8-bit (full range preserved)"]
    return []


def _exif_orientation(im: Image.Image, notes: list[str]) -> int | None:
    try:
        value = im.getexif().get(_ORIENTATION_TAG)
    except _DECODE_ERRORS:
        notes.append("EXIF metadata unreadable: orientation ignored")
        return None
    return value if isinstance(value, int) and value in _ORIENTATIONS else None


def _to_rgb(im: Image.Image, label: str, notes: list[str]) -> Image.Image:
    """A new, file-independent RGB image; conversions are recorded in ``notes``."""
    mode = im.mode
    try:
        if mode == "RGB":
            return im.copy()
        if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
            return _scale_high_depth(im, notes).convert("RGB")
        if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in im.info):
            return _flatten(im.convert("RGBA"), mode, notes)
        if mode == "CMYK":
            notes.append("CMYK converted to RGB (colour profile not applied)")
        elif mode == "P":
            notes.append("palette (indexed-colour) image converted to RGB")
        elif mode == "1":
            notes.append("1-bit black/white image converted to RGB")
        elif mode == "L":
            notes.append("grayscale image converted to RGB (three equal channels)")
        else:
            notes.append(f"{mode} image converted to RGB")
        return im.convert("RGB")
    except (ValueError, OSError) as exc:
        raise InputError(
            f"'{label}' uses the colour mode {mode}, which cannot be converted to RGB ({exc}). "
            "Save it as an 8-bit RGB or grayscale PNG/JPEG."
        ) from exc


def _flatten(rgba: Image.Image, original_mode: str, notes: list[str]) -> Image.Image:
    alpha = rgba.getchannel("A")
    lowest = alpha.getextrema()[0]
    prefix = "palette image converted to RGB; " if original_mode in ("P", "PA") else ""
    gray = "grayscale image converted to RGB; " if original_mode in ("LA", "La") else ""
    if isinstance(lowest, (int, float)) and lowest >= 255:
        notes.append(f"{prefix}{gray}fully opaque alpha channel dropped")
        return rgba.convert("RGB")
    background = Image.new("RGB", rgba.size, BACKGROUND)
    background.paste(rgba, mask=alpha)
    notes.append(f"{prefix}{gray}transparency flattened on white")
    return background


def _scale_high_depth(im: Image.Image, notes: list[str]) -> Image.Image:
    values = np.asarray(im)
    if im.mode.startswith("I;16"):
        notes.append("16-bit image converted to 8-bit (0–65535 scaled to 0–255)")
        return Image.fromarray(_scale_to_u8(values, 65535.0), mode="L")
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 0.0
    depth = "32-bit float" if im.mode == "F" else "32-bit integer"
    if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
        notes.append(f"{depth} image converted to 8-bit (0–1 scaled to 0–255)")
        return Image.fromarray(_scale_to_u8(values, 1.0), mode="L")
    if lo >= 0 and hi <= 255 and im.mode == "I":
        notes.append(f"{depth} image with values 0–255 converted to 8-bit")
        return Image.fromarray(_scale_to_u8(values, 255.0), mode="L")
    if lo >= 0 and hi <= 65535 and im.mode == "I":
        notes.append(f"{depth} image with 16-bit values converted to 8-bit (0–65535 scaled to 0–255)")
        return Image.fromarray(_scale_to_u8(values, 65535.0), mode="L")
    notes.append(f"{depth} image stretched to 8-bit (its range {lo:g}–{hi:g} mapped to 0–255)")
    span = hi - lo if hi > lo else 1.0
    return Image.fromarray(_scale_to_u8(values.astype(np.float64) - lo, span), mode="L")


def _scale_to_u8(values: np.ndarray, full_scale: float) -> np.ndarray:
    scaled = np.nan_to_num(values.astype(np.float64), nan=0.0) * (255.0 / full_scale)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
