"""``python -m cam_core reference MODEL DIR``: give a model a domain reference made from a folder of its
in-domain images (also what ``import --reference DIR`` runs after an import).

:func:`reference_from_folder` explains the folder's images with the model's CAM extractor (one pass each),
holds a random :data:`CALIBRATION_SHARE` out for the threshold and fits the reference
(:func:`cam_core.domain.build.fit_domain`). :func:`write_domain` writes it into the model file: the safetensors
file is rewritten in place, atomically, weights unchanged, the card's ``domain`` field and the ``domain.*``
tensors replaced.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from cam_core.checkpoints import resolve_model_path
from cam_core.checkpoints.card import CARD_KEY
from cam_core.data.dataset import is_masks_folder, name_group
from cam_core.data.imaging import iter_image_files, load_image
from cam_core.domain import DOMAIN_PREFIX, DomainModel
from cam_core.domain.build import fit_domain
from cam_core.errors import InputError
from cam_core.explain.pipeline import make_model_extractor
from cam_core.files import atomic_path, atomic_write
from cam_core.models import is_onnx_file, load_model

__all__ = ["CALIBRATION_SHARE", "add_reference_parser", "attach_reference", "cmd_reference", "image_features",
           "reference_from_folder", "write_domain"]

CALIBRATION_SHARE = 0.25   # share of a folder held out for the threshold


def image_features(bundle: Any, images: Iterable[Any], batch_size: int = 16) -> tuple[Tensor, str]:
    """``(N×D features, layer)`` of ``images`` (PIL or arrays) with ``bundle``'s CAM extractor: one pass each,
    batched by input size as the Explainer does."""
    extractor = make_model_extractor(bundle, "cam", domain=True)
    rows: list[Tensor] = []
    layer = ""
    try:
        pending: dict[tuple[int, int], list[Any]] = {}

        def flush(size: tuple[int, int]) -> None:
            nonlocal layer
            out = extractor(bundle.preprocess(pending.pop(size), size))
            if out.features is None:
                raise InputError(f"{bundle.name}: its CAM head gives no domain features")
            rows.append(out.features.cpu())
            layer = out.features_layer or ""

        for image in images:
            size = bundle.input_size_for(image)
            pending.setdefault(size, []).append(image)
            if len(pending[size]) >= batch_size:
                flush(size)
        for size in list(pending):
            flush(size)
    finally:
        extractor.close()
    if not rows:
        raise InputError("no readable images to make a domain reference from")
    return torch.cat(rows), layer


def _load_all(paths: Sequence[Path], skipped: list[str], kept: list[Path]) -> Iterable[Any]:
    """The images of ``paths`` that decode, in order (their paths appended to ``kept``, the others to ``skipped``)."""
    for path in paths:
        try:
            image = load_image(path).image
        except InputError as exc:
            skipped.append(f"{path.name}: {exc}")
            continue
        kept.append(path)
        yield image


def reference_from_folder(bundle: Any, folder: str | Path, *, seed: int = 0, group_pattern: str | None = None,
                          progress: Callable[[str], None] | None = None) -> tuple[DomainModel, list[str]]:
    """The domain model of ``bundle`` from the images in ``folder`` (recursively; ``masks/`` folders skipped):
    a random :data:`CALIBRATION_SHARE` is held out for the threshold. With ``group_pattern`` (a regular expression
    whose first match in a file name names its acquisition run, :func:`~cam_core.data.dataset.name_group`) and
    two or more runs, the threshold is calibrated on whole runs the reference is measured without
    (:mod:`cam_core.domain.calibration`), as ``train --group-pattern`` does. Returns it and the skipped files."""
    group_of = name_group(group_pattern) if group_pattern else None
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"not a folder: {folder}")
    paths = sorted(p for p in iter_image_files([folder]) if not any(is_masks_folder(q) for q in p.relative_to(folder).parts[:-1]))
    if len(paths) < 10:
        raise InputError(f"{folder} holds {len(paths)} images; a domain reference needs at least 10")
    order = np.random.default_rng(seed).permutation(len(paths))
    n_held = max(1, int(round(CALIBRATION_SHARE * len(paths))))
    held_paths = [paths[i] for i in order[:n_held]]
    ref_paths = [paths[i] for i in order[n_held:]]
    skipped: list[str] = []
    ref_kept: list[Path] = []
    held_kept: list[Path] = []
    say = progress or (lambda _: None)
    say(f"features of {len(ref_paths)} reference images")
    ref, layer = image_features(bundle, _load_all(ref_paths, skipped, ref_kept))
    say(f"features of {len(held_paths)} held-out images")
    held, _ = image_features(bundle, _load_all(held_paths, skipped, held_kept))
    ref_groups = [group_of(p.name) for p in ref_kept] if group_of else None
    held_groups = [group_of(p.name) for p in held_kept] if group_of else None
    model = fit_domain(ref, held, layer=layer, source=str(folder), seed=seed, reference_groups=ref_groups,
                       held_out_groups=held_groups)
    return model, skipped


def write_domain(path: str | Path, card: dict[str, Any], domain: DomainModel) -> dict[str, Any]:
    """Rewrite the safetensors model ``path`` (card ``card``) with ``domain``: its card field and tensors.

    The weights are copied unchanged; the file and its ``<stem>.json`` are replaced atomically. Returns the card."""
    path = Path(path)
    tensors = {k: v for k, v in load_file(str(path)).items() if not k.startswith(DOMAIN_PREFIX)}
    tensors.update(domain.tensors())
    card = {**card, "domain": domain.reference.to_dict()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={CARD_KEY: json.dumps(card)})
    with atomic_write(path.with_suffix(".json"), "w") as fh:
        fh.write(json.dumps(card, indent=2) + "\n")
    return card


def attach_reference(model: str, folder: str | Path, *, seed: int = 0, describe: str | None = None,
                     group_pattern: str | None = None) -> str:
    """Make ``model``'s domain reference from ``folder`` and write it into the model file; a line saying what
    was written."""
    path = resolve_model_path(model)
    if is_onnx_file(path) or path.suffix.lower() != ".safetensors":
        raise InputError(f"{path.name}: a domain reference is written into this product's .safetensors models; "
                         "import the weights first (python -m cam_core import) or explain it as 'domain unknown'")
    bundle = load_model(str(path), device="cpu")

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    domain, skipped = reference_from_folder(bundle, folder, seed=seed, group_pattern=group_pattern, progress=say)
    if describe:
        domain = replace(domain, reference=replace(domain.reference, source=describe))
    for line in skipped:
        say(f"skipped {line}")
    write_domain(path, bundle.card.to_dict(), domain)
    ref = domain.reference
    return (f"wrote the domain reference into {path}: {ref.n_reference} reference images, threshold "
            f"{ref.threshold:.4f} ({ref.margin:g} × the {ref.quantile:.0%} quantile of {ref.n_calibration} distances; "
            f"calibrated on {ref.calibration})")


def cmd_reference(args: argparse.Namespace) -> int:
    print(attach_reference(args.model, args.folder, seed=args.seed, describe=args.describe,
                           group_pattern=args.group_pattern))
    return 0


def add_reference_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reference", help="give a model a domain reference from a folder of its in-domain images "
                       "(each explained image is then marked 'known' or 'unlike training data')")
    p.add_argument("model", help="model name or .safetensors path (rewritten in place)")
    p.add_argument("folder", help="images like the ones the model was trained on (recursive; masks/ skipped); "
                   "a quarter is held out to calibrate the threshold")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--describe", default=None, help="what the folder holds, for the card (default: its path)")
    p.add_argument("--group-pattern", default=None,
                   help="regular expression naming each image's acquisition run from its file name (e.g. 'exp\\d+'): "
                        "the threshold is then calibrated on whole runs, so images of a new run are not flagged")
    p.set_defaults(func=cmd_reference)
