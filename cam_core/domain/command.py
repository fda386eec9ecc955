"""``python -m cam_core reference MODEL DIR``: give a model a domain reference made from a folder of its
in-domain images (also what ``import --reference DIR`` runs after an import).

The model file (safetensors) is rewritten in place, atomically: weights unchanged, the card's ``domain`` field
and the ``domain.*`` tensors replaced.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from cam_core.domain.build import reference_from_folder
from cam_core.errors import InputError

__all__ = ["add_reference_parser", "attach_reference", "cmd_reference"]


def attach_reference(model: str, folder: str | Path, *, seed: int = 0, describe: str | None = None) -> str:
    """Make ``model``'s domain reference from ``folder`` and write it into the model file; a line saying what
    was written."""
    from cam_core.checkpoints import resolve_model_path
    from cam_core.domain.store import write_domain
    from cam_core.models import is_onnx_file, load_model

    path = resolve_model_path(model)
    if is_onnx_file(path) or path.suffix.lower() != ".safetensors":
        raise InputError(f"{path.name}: a domain reference is written into this product's .safetensors models; "
                         "import the weights first (python -m cam_core import) or explain it as 'domain unknown'")
    bundle = load_model(str(path), device="cpu")

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    domain, skipped = reference_from_folder(bundle, folder, seed=seed, progress=say)
    if describe:
        domain = replace(domain, reference=replace(domain.reference, source=describe))
    for line in skipped:
        say(f"skipped {line}")
    write_domain(path, bundle.card.to_dict(), domain)
    ref = domain.reference
    return (f"wrote the domain reference into {path}: {ref.n_reference} reference images, threshold "
            f"{ref.threshold:.4f} ({ref.quantile:.0%} of {ref.n_calibration} held-out distances × {ref.margin:g})")


def cmd_reference(args: argparse.Namespace) -> int:
    print(attach_reference(args.model, args.folder, seed=args.seed, describe=args.describe))
    return 0


def add_reference_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reference", help="give a model a domain reference from a folder of its in-domain images "
                       "(each explained image is then marked 'known' or 'unlike training data')")
    p.add_argument("model", help="model name or .safetensors path (rewritten in place)")
    p.add_argument("folder", help="images like the ones the model was trained on (recursive; masks/ skipped); "
                   "a quarter is held out to calibrate the threshold")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--describe", default=None, help="what the folder holds, for the card (default: its path)")
    p.set_defaults(func=cmd_reference)
