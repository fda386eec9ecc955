"""Inputs: uploaded images decoded once per content, the built-in samples and their picker.

An :class:`InputImage` may carry a :class:`DefectMask`: built-in NG samples bring their exact synthetic
mask; uploads get one from :func:`app_ui.masks.attach_masks`.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import streamlit as st
from PIL import Image

from app_ui.cache import cached, scratch_root
from app_ui.errors import error_line, log
from cam_core import CamInspectorError
from cam_core.explain import unique_name
from cam_core.options import IMAGE_EXTENSIONS, upload_types
from cam_core.synth.samples import SAMPLE_SIZE, SAMPLES, render_sample, sample_file_name

T = TypeVar("T")

IMAGE_TYPES: list[str] = upload_types(IMAGE_EXTENSIONS)
SAMPLE_MASK_SOURCE = "the sample's own mask"
STALE_UPLOAD_HINT = ("A file still listed in an upload box after the server restarted is no longer on the server: "
                     "remove it (×) and upload it again.")


@dataclass(frozen=True)
class DefectMask:
    """Where the defect of an input is: ``H×W`` bool at the image's own size, plus its origin and notes."""

    mask: np.ndarray = field(compare=False, repr=False)
    source: str = SAMPLE_MASK_SOURCE     # the mask file's (sanitised) name, or the built-in sample's
    key: str = ""                        # content identity (part of the scores' cache key)
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not bool(self.mask.any())


@dataclass(frozen=True)
class InputImage:
    """A decoded input: full-resolution RGB image, display name, content hash, loading notes, defect mask."""

    name: str
    digest: str
    image: Image.Image
    notes: tuple[str, ...] = ()
    mask: DefectMask | None = field(default=None, compare=False, repr=False)


def digest_of(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def decode_image(data: bytes, name: str) -> InputImage:
    """Decode uploaded bytes with :func:`cam_core.data.imaging.load_image` (raises ``InputError``)."""
    from cam_core.data import load_image

    loaded = load_image(data, name=name)
    # The sanitized name ([A-Za-z0-9._-]) is safe in captions (markdown), file names and HTML.
    return InputImage(name=loaded.name, digest=digest_of(data), image=loaded.image, notes=tuple(loaded.notes))


def unpack_zip(data: bytes, kind: str, scan: Callable[[Path], T]) -> tuple[Path, T, list[str]]:
    """Extract an uploaded ZIP into a fresh folder of the ``kind`` scratch root
    (:func:`cam_core.data.archives.safe_extract_zip`) and ``scan`` what it holds; returns the folder, the scan
    and the notes on skipped entries. The folder is removed when either step fails (``InputError`` for a bad ZIP)."""
    from cam_core.data import safe_extract_zip

    scratch = scratch_root(kind)
    scratch.mkdir(parents=True, exist_ok=True)  # in case a temp cleaner removed it
    folder = Path(tempfile.mkdtemp(prefix="zip-", dir=scratch))
    notes: list[str] = []
    try:
        found = scan(safe_extract_zip(data, folder / "data", notes=notes))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, found, notes


def _decode_upload(upload: Any, name: str) -> InputImage:
    data = upload.getvalue()
    return cached("decoded", (digest_of(data), name), lambda: decode_image(data, name))


def load_uploads(files: Iterable[Any] | None) -> tuple[list[InputImage], list[str]]:
    """Decode uploaded files; a bad file gives an error line and the others are still loaded."""
    images: list[InputImage] = []
    errors: list[str] = []
    seen: set[str] = set()
    for upload in files or []:
        name = getattr(upload, "name", "image")
        try:
            decoded = _decode_upload(upload, name)
        except CamInspectorError as exc:
            errors.append(error_line(name, exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one odd file must not stop the batch
            log.exception("decoding %s failed", name)
            errors.append(f"{name}: could not be read ({type(exc).__name__}); save it again as PNG or JPEG")
            continue
        unique = unique_name(decoded.name, seen)
        images.append(decoded if unique == decoded.name else InputImage(unique, decoded.digest, decoded.image,
                                                                        decoded.notes))
    return images, errors


@st.cache_resource(max_entries=16, show_spinner=False)
def sample_image(label: str) -> InputImage:
    """One built-in sample part (cam_core.synth.samples; generated once per process)."""
    part = render_sample(label)
    key = f"sample:{label}:{SAMPLES[label][2]}:{SAMPLE_SIZE}"
    mask: DefectMask | None = None
    if part.mask.any():  # synth draws the exact defect mask (0/255); OK parts have none
        from cam_core.evaluation import binarize_mask

        mask = DefectMask(mask=binarize_mask(part.mask), source=SAMPLE_MASK_SOURCE, key=key)
    return InputImage(name=sample_file_name(label), digest=key, image=part.image.convert("RGB"), mask=mask)


def sample_picker(key: str = "cfg_samples", multiple: bool = True, container: Any = None) -> list[InputImage]:
    """Pick built-in synthetic OK/NG parts."""
    container = container or st
    if multiple:
        kept = st.session_state.get(key)
        if isinstance(kept, list) and any(label not in SAMPLES for label in kept):
            st.session_state[key] = [label for label in kept if label in SAMPLES]
        labels = container.multiselect("…or try built-in samples (synthetic parts)", list(SAMPLES), key=key)
    else:
        label = container.selectbox("…or a built-in sample (synthetic part)", list(SAMPLES), index=None,
                                    placeholder="Choose a sample", key=key)
        labels = [label] if label else []
    return [sample_image(label) for label in labels]


def own_input_names(items: Iterable[InputImage]) -> list[str]:
    """The names of the user's own images among ``items`` (not built-in samples)."""
    return [item.name for item in items if not item.digest.startswith("sample:")]
