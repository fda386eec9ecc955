"""Command line: ``python -m cam_core {explain,synth,train,evaluate,video,models,export-onnx,batch,report}``.

User errors (bad files, unknown models, bad options, outputs that cannot be written) print one clear line on
stderr, never a traceback; the exit code is 0 when everything worked, 1 when some inputs failed (the rest
were processed), 2 when nothing could run. :func:`main` is the one error path: every command raises, and
``main`` turns a :class:`CamInspectorError`, an ``OSError`` (naming the file) or an argument error into
that line.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from cam_core.batch.cli_commands import add_batch, add_report
from cam_core.cli_args import add_model_args, add_view_args
from cam_core.errors import CamInspectorError, InputError
from cam_core.options import (
    Device,
    Freeze,
    Layout,
    Pretrained,
    Resize,
    VideoSettings,
    ViewSettings,
    choices,
)
from cam_core.reference import add_reference_parser, attach_reference
from cam_core.synth.defects import DEFECT_TYPES

if TYPE_CHECKING:
    from cam_core.checkpoints import ModelBundle
    from cam_core.data.imaging import LoadedImage
    from cam_core.explain.pipeline import Explainer, Explanation

EXIT_OK, EXIT_SOME_FAILED, EXIT_ERROR = 0, 1, 2


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``error: argument --opacity: …``), raised, not exited."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("python -m cam_core").strip()
        raise _ArgumentError(f"{command}: {message}" if command else message)


class _ArgumentError(Exception):
    """A command line argparse refuses (unknown option, bad choice, missing argument)."""


def os_error_line(exc: OSError) -> str:
    """One line for an ``OSError``: the path it names and why (``out/a.png: No space left on device``).

    Atomic writes (:mod:`cam_core.files`) name the file asked for, not their temporary file."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, FileExistsError | NotADirectoryError):
        reason = f"{reason} (a file is in the way where a folder is needed)"
    if exc.filename is None:
        return f"input/output error: {reason}"
    where = exc.filename if exc.filename2 is None else f"{exc.filename} → {exc.filename2}"
    return f"{where}: {reason}"


# --------------------------------------------------------------------------------------------
# explain
# --------------------------------------------------------------------------------------------
def _chunks(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _check_target(target: str, bundle: ModelBundle) -> None:
    if target not in ("predicted", "all") and target not in bundle.classes:
        raise CamInspectorError(f"--target {target!r} is not a class of {bundle.name}; its classes: "
                                f"{', '.join(bundle.classes[:20])}{' …' if len(bundle.classes) > 20 else ''}")


def _load_chunk(chunk: list[Path]) -> tuple[list[tuple[Path, LoadedImage]], int]:
    """The images of ``chunk`` that load, and how many did not (each failure printed as one line)."""
    from cam_core.data.imaging import load_image

    loaded, failures = [], 0
    for path in chunk:
        try:
            loaded.append((path, load_image(path)))
        except CamInspectorError as exc:
            failures += 1
            _err(f"{path}: {exc}")
    return loaded, failures


def cmd_explain(args: argparse.Namespace) -> int:
    from cam_core.data.imaging import iter_image_files
    from cam_core.explain.export import FolderExport
    from cam_core.explain.factory import make_explainer
    from cam_core.models import load_model

    view = ViewSettings(opacity=args.opacity, colormap=args.colormap)   # options checked before any work
    missing: list[InputError] = []

    def report_missing(exc: InputError) -> None:
        missing.append(exc)
        _err(str(exc))

    files = iter_image_files(args.paths, on_missing=report_missing)
    if not files:
        if missing:
            return EXIT_ERROR
        raise CamInspectorError("no image files found in the given paths")
    out_dir = Path(args.out) if args.out else None
    export = FolderExport(out_dir, Path(args.save_maps) if args.save_maps else None, target=args.target,
                          opacity=view.opacity, colormap=view.colormap)
    bundle = load_model(args.model, device=args.device)
    _check_target(args.target, bundle)
    if out_dir is not None:
        from cam_core.explain.scale import model_scale

        export.value_range = model_scale(bundle).range     # one colour scale for every image of the model
    fixed_target = None if args.target in ("predicted", "all") else [bundle.classes.index(args.target)]
    failures = len(missing)
    with make_explainer(bundle, args.method, backend=args.backend, batch_size=args.batch_size,
                        flip_average=args.flip_average) as explainer:
        _say_backend(explainer, args)
        for chunk in _chunks(files, explainer.batch_size):
            loaded, failed = _load_chunk(chunk)
            failures += failed
            results = explainer.explain([item.image for _, item in loaded], targets=fixed_target) if loaded else []
            for (path, item), result in zip(loaded, results):
                export.add(str(path), item.image, result)
                _report_one(args, bundle.name, path, item.notes, result)
    export.finish()
    explained = len(export.batch.names)
    if not args.json:
        print(f"{explained} explained, {failures} failed" + (f"; wrote {out_dir}" if out_dir else ""),
              file=sys.stderr)
    if not explained:
        return EXIT_ERROR
    return EXIT_SOME_FAILED if failures else EXIT_OK


def _report_one(args: argparse.Namespace, model_name: str, path: Path, notes: Sequence[str],
                result: Explanation) -> None:
    from cam_core.explain.export import image_record
    from cam_core.explain.verdict import verdict_of

    if args.json:
        print(json.dumps(image_record(str(path), result, notes, model=model_name)), flush=True)
        return
    verdict = verdict_of(result)
    peak = result.peaks().get(verdict.class_name)
    where = f", peak at {tuple(peak)}" if peak else ""
    notes = [*notes, "NOT TRUSTED: unlike the model's training data"] if result.domain.outside else notes
    note = f"  [{'; '.join(notes)}]" if notes else ""
    print(f"{path}: {verdict.class_name} {verdict.probability:.3f} (map {result.map_size[0]}×{result.map_size[1]}"
          f"{where}){note}", flush=True)


# --------------------------------------------------------------------------------------------
# synth / train / evaluate / video / models
# --------------------------------------------------------------------------------------------
def cmd_synth(args: argparse.Namespace) -> int:
    from cam_core.progress import Progress
    from cam_core.synth import generate_dataset

    start = time.perf_counter()

    def progress(event: Progress) -> None:
        if event.done == event.total or event.done % 100 == 0:
            print(f"\r{event.text()}", end="", file=sys.stderr, flush=True)

    try:
        if args.kind == "conveyor":
            from cam_core.synth import generate_conveyor_dataset

            if args.defect != "random":
                raise ValueError("--defect picks the defect of single parts; a conveyor frame's defects are drawn "
                                 "by the scene (leave --defect out with --kind conveyor)")
            out = generate_conveyor_dataset(args.out_dir, count=args.count, seed=args.seed, progress=progress)
        else:
            out = generate_dataset(args.out_dir, count=args.count, seed=args.seed, kind=args.kind, size=args.size,
                                   defect=args.defect, progress=progress)
    except ValueError as exc:
        raise CamInspectorError(str(exc)) from None
    print(f"\nwrote {args.count} parts to {out} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return EXIT_OK


def stop_on_signals() -> None:
    """SIGINT and SIGTERM end a training run with its best epoch kept (as Ctrl+C does), also in a job started in
    the background by a script, whose shell starts it with SIGINT ignored (then ``timeout -s INT`` did nothing
    and a run meant to stop after its time went on to its last epoch)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.default_int_handler)


def cmd_train(args: argparse.Namespace) -> int:
    from cam_core.checkpoints import user_models_dir
    from cam_core.progress import TextProgress
    from cam_core.training import TrainConfig, train_model

    config = TrainConfig(arch=args.arch, epochs=args.epochs, image_size=args.image_size,
                         batch_size=args.batch_size, lr=args.lr, seed=args.seed, pretrained=args.pretrained,
                         device=args.device, val_fraction=args.val_fraction, mask_loss_weight=args.mask_loss,
                         group_pattern=args.group_pattern, resize=args.resize, map_stride=args.map_stride,
                         freeze=args.freeze, data_description=args.data_description, init_from=args.init_from,
                         epoch_images=args.epoch_images, **_distill_options(args))
    out = args.out or str(user_models_dir() / f"{Path(args.data_dir).resolve().name}-{args.arch}.safetensors")
    command = "python -m cam_core " + " ".join(shlex.quote(a) for a in args.argv)
    stop_on_signals()
    result = train_model(args.data_dir, out, config, progress=TextProgress(), command_line=command)
    if result.rejected is not None:
        return EXIT_ERROR
    if result.path is None:
        print("interrupted before the first epoch finished: no model was saved", file=sys.stderr)
        return EXIT_ERROR
    if result.interrupted:
        print(f"interrupted: kept the best model so far in {result.path}", file=sys.stderr)
    from cam_core.training.summary import training_summary

    card = result.model_card
    for line in training_summary(card) if card is not None else []:
        print(line)
    return EXIT_OK


def _distill_options(args: argparse.Namespace) -> dict[str, Any]:
    """``train``'s teacher and fresh-parts options as :class:`TrainConfig` fields."""
    from cam_core.training.distill import DistillSettings
    from cam_core.training.fresh import FreshSynth

    options: dict[str, Any] = {}
    if args.teacher:
        options["distill"] = DistillSettings(teacher=args.teacher, temperature=args.temperature, alpha=args.alpha,
                                             map_weight=args.map_weight, unlabelled=args.unlabelled,
                                             cache_dir=args.teacher_cache)
    elif args.unlabelled:
        raise InputError("--unlabelled needs --teacher (images without labels learn from the teacher only)")
    if args.fresh_synth:
        options["fresh_synth"] = FreshSynth(kind=args.fresh_synth, count=args.fresh_count, seed=args.fresh_seed)
    return options


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cam_core.evaluation import evaluate, format_report
    from cam_core.explain.factory import make_explainer
    from cam_core.models import load_model
    from cam_core.progress import Progress

    def progress(event: Progress) -> None:
        if event.stage == "message":     # a skipped image or mask: one line, the run goes on
            print(f"warning: {event.message}", file=sys.stderr, flush=True)

    bundle = load_model(args.model, device=args.device)
    with make_explainer(bundle, args.method, backend=args.backend, flip_average=args.flip_average) as explainer:
        _say_backend(explainer, args)
        report = evaluate(args.data_dir, explainer, progress=progress, deletion_images=args.deletion_images)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(format_report(report))
    return EXIT_SOME_FAILED if report.skipped_files else EXIT_OK


def cmd_video(args: argparse.Namespace) -> int:
    from cam_core.explain.factory import make_explainer
    from cam_core.models import load_model
    from cam_core.video import VideoProgress, explain_video
    from cam_core.video.probe import probe_video

    settings = VideoSettings(layout=args.layout, opacity=args.opacity, colormap=args.colormap, every=args.every,
                             max_side=args.max_side, batch_size=args.batch_size,
                             track_parts=args.parts)   # checked before the model loads
    for flag, path in (("--csv", args.csv), ("--report", args.report)):   # refused before any work is done
        if path and Path(path).is_dir():
            raise InputError(f"{flag} {path} is a folder: give it a file name")
    probe_video(args.input)          # a missing or unreadable input is refused before the model loads
    bundle = load_model(args.model, device=args.device)

    drawn: list[bool] = []

    def progress(p: VideoProgress) -> None:
        print(f"\r{p.text()}   ", end="", file=sys.stderr, flush=True)
        drawn[:] = [True]

    try:
        with make_explainer(bundle, args.method, backend=args.backend, batch_size=args.batch_size,
                            flip_average=args.flip_average) as explainer:
            _say_backend(explainer, args)
            result = explain_video(args.input, args.out, explainer, settings, csv_path=args.csv, progress=progress)
    finally:
        if drawn:
            print(file=sys.stderr)   # end the progress line, so what follows starts on its own
    positive = bundle.card.defect_index
    ng = 0 if positive is None else sum(1 for f in result.frames if f.predicted == bundle.classes[positive])
    print(f"wrote {result.output} ({result.frames_text}, {ng} NG; colour scale from {result.scale_source})",
          file=sys.stderr)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for event in [*result.events, *result.parts]:
        print(f"{event.title} {event.start_s:.2f}–{event.end_s:.2f} s, peak frame {event.peak_frame}, "
              f"max P(defect) {event.max_p_defect:.2f}", file=sys.stderr)
    if result.events_csv is not None:
        print(f"events: {result.events_csv}", file=sys.stderr)
    if args.report:
        from cam_core.report.video import write_video_report

        write_video_report(result, bundle.card, args.report, threshold=settings.threshold, model_name=bundle.name,
                           video_name=Path(args.input).name, colormap=settings.colormap.value,
                           settings={"method": args.method, "every": args.every, "layout": args.layout})
        print(f"report: {args.report}", file=sys.stderr)
    return EXIT_SOME_FAILED if result.ended_early else EXIT_OK


def _say_backend(explainer: Explainer, args: argparse.Namespace) -> None:
    """One stderr line naming the engine that runs (and why, after a fallback); none with ``--json``."""
    if not getattr(args, "json", False):
        print(f"engine: {explainer.backend.label}", file=sys.stderr, flush=True)


def cmd_weights(args: argparse.Namespace) -> int:
    from cam_core.engine import imagenet

    if args.action == "list":
        for status in imagenet.list_weights():
            if status.available:
                print(f"{status.arch}: available: {status.source}")
            else:
                print(f"{status.arch}: missing: {status.how_to_get}")
        return EXIT_OK
    if not args.target:
        raise CamInspectorError(f"weights {args.action} needs " + ("an architecture" if args.action == "download"
                                                                   else "a file"))
    if args.action == "download":
        path = imagenet.download(args.target)
        print(f"{args.target}: ImageNet weights at {path}")
        return EXIT_OK
    path = imagenet.import_file(args.target, args.arch)
    print(f"imported {args.target} (SHA-256 checked against its name) to {path}")
    return EXIT_OK


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from cam_core.interop import export_onnx
    from cam_core.models import is_onnx_file, load_model

    if is_onnx_file(args.model):
        raise InputError(f"{args.model} is already an ONNX model; copy the file instead")
    result = export_onnx(load_model(args.model, device="cpu"), args.out, opset=args.opset)
    print(f"wrote {result.path} ({result.bytes / 1024**2:.1f} MB, opset {result.opset}, head {result.head.head}; "
          f"ONNX vs PyTorch: maps {result.map_error:.1e}, logits {result.logit_error:.1e} relative)")
    return EXIT_OK


def _add_export_onnx(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-onnx", help="export a model to ONNX with its model card inside (checked against PyTorch)")
    p.add_argument("model", help="shipped/user model name, .safetensors path, or torchvision:ARCH")
    p.add_argument("out", help="output .onnx file (explain it with --model OUT.onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 13 to 20 (default 17)")
    p.set_defaults(func=cmd_export_onnx)


def cmd_import(args: argparse.Namespace) -> int:
    from cam_core.interop import import_weights

    result = import_weights(args.file, args.classes, arch=args.arch, name=args.name, defect_class=args.defect_class,
                            input_size=args.input_size, mean=args.mean, std=args.std, overwrite=args.force)
    card = result.card
    print(result.arch_line)
    for note in result.notes:
        print(f"note: {note}")
    defect = card["defect_class"] or "none (no class is named as a defect; pass --defect-class)"
    print(f"head: {card['head_type']}; classes: {', '.join(card['classes'])}; defect class: {defect}")
    print(f"wrote {result.path} and {result.card_path.name}; use it with --model {result.name}")
    if args.reference:
        print(attach_reference(str(result.path), args.reference))
    else:
        print("domain unknown: give --reference DIR (images like its training data) to mark unfamiliar images")
    return EXIT_OK


def _add_import(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import a PyTorch state dict (.pt/.pth/.ckpt or .safetensors) of a known "
                       "architecture as a named model")
    p.add_argument("file", help="torch.save(model.state_dict()) file, a checkpoint dict holding one "
                   "('state_dict'/'model'), or a safetensors state dict; read with weights_only in a limited child")
    p.add_argument("--classes", required=True, help="class names in the head's output order, e.g. ok,ng")
    p.add_argument("--arch", default=None, help="architecture (default: detected from the key names and shapes)")
    p.add_argument("--name", default=None, help="model name (default: the file's stem)")
    p.add_argument("--defect-class", default=None, help="which class is the defect (default: ng/defect/bad/…); "
                   "for a one-logit head, the class whose probability is sigmoid(z)")
    p.add_argument("--input-size", type=int, default=224, help="square input size in px (default 224)")
    p.add_argument("--mean", default=None, help="normalisation mean a,b,c (default ImageNet's); a torchvision "
                   "GoogLeNet built with transform_input=True: --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5")
    p.add_argument("--std", default=None, help="normalisation std a,b,c (default ImageNet's)")
    p.add_argument("--force", action="store_true", help="replace a user model of the same name")
    p.add_argument("--reference", default=None, metavar="DIR",
                   help="a folder of the model's in-domain images: its domain reference (else 'domain unknown')")
    p.set_defaults(func=cmd_import)


def cmd_models(args: argparse.Namespace) -> int:
    from cam_core.checkpoints import list_models
    from cam_core.models import open_model_card

    for name, path in list_models().items():
        try:
            card = open_model_card(path)
        except CamInspectorError as exc:
            print(f"{name}: unusable ({exc})")
            continue
        val = card.validation
        print(f"{name}: {card.arch} classes={','.join(card.classes)} input={list(card.input_size)} "
              f"val_acc={val.get('accuracy', 'n/a')} val_auroc={val.get('auroc', 'n/a')}  ({path})")
    return EXIT_OK


# --------------------------------------------------------------------------------------------
def _add_explain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain images: verdicts, maps, overlays")
    p.add_argument("paths", nargs="+", help="image files or folders (recursive)")
    add_model_args(p)
    p.add_argument("--target", default="predicted", help="predicted | all | a class name (which overlays to write)")
    add_view_args(p)
    p.add_argument("--out", help="folder for overlay PNGs and results.csv")
    p.add_argument("--save-maps", help="folder for <stem>.npy: float32 C×H×W raw maps at the image size")
    p.add_argument("--json", action="store_true", help="one JSON object per line per image on stdout")
    p.add_argument("--batch-size", type=int, default=16)
    p.set_defaults(func=cmd_explain)


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate synthetic OK/NG parts with defect masks")
    p.add_argument("out_dir")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kind", default="mixed", choices=["plate", "nut", "mixed", "conveyor"],
                   help="conveyor: whole frames of the conveyor scene (480×270), NG when a defect is in view")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--defect", default="random", choices=["random", *DEFECT_TYPES],
                   help="type of every NG part (default: a random type each); not with --kind conveyor")
    p.set_defaults(func=cmd_synth)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an OK/NG model on class folders (ok/, ng/)")
    p.add_argument("data_dir")
    p.add_argument("--arch", default="efficientnet_lite0",
                   help="network (default efficientnet_lite0: fine-tuned from its ImageNet weights)")
    p.add_argument("--out", default=None, help="output .safetensors path (a JSON card is written beside it); "
                   "default: the user models folder, <data folder>-<arch>.safetensors")
    p.add_argument("--freeze", choices=choices(Freeze), default=Freeze.AUTO.value,
                   help="auto: with ImageNet weights, keep the stages up to stride 8 frozen (faster on CPU)")
    p.add_argument("--init-from", default=None,
                   help="continue from one of this product's models of the same architecture and classes")
    p.add_argument("--data-description", default=None,
                   help="what the images are, for the model card (default: worked out from the folder)")
    p.add_argument("--epochs", type=int, default=None,
                   help="default: enough for about 1500 optimiser steps (10–100 epochs)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--epoch-images", type=int, default=None,
                   help="train each epoch on a random draw of about this many images (default: all, once)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--pretrained", default=Pretrained.AUTO.value, choices=choices(Pretrained))
    p.add_argument("--device", default=Device.AUTO.value, choices=choices(Device))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mask-loss", type=float, default=1.0,
                   help="weight of the pointing loss on NG images with a mask in masks/ (0 = off; default 1)")
    p.add_argument("--resize", choices=choices(Resize), default=Resize.SQUARE.value,
                   help="square: squash every image to image-size²; aspect: keep each image's aspect ratio "
                        "at about image-size² pixels (recorded in the card; explain/evaluate follow it)")
    p.add_argument("--map-stride", type=int, choices=[16, 32], default=32,
                   help="16 halves the last stage's stride (Lite0, GoogLeNet, ResNet): a 14×14 CAM grid at 224 px")
    p.add_argument("--group-pattern", default=None,
                   help=r"regex; files whose names share its match stay on one side of the split (e.g. 'exp\d+')")
    p.add_argument("--teacher", default=None,
                   help="distil from this model (name, .safetensors or .onnx): its probabilities and its maps")
    p.add_argument("--temperature", type=float, default=4.0, help="softening of both models' logits (default 4)")
    p.add_argument("--alpha", type=float, default=0.5, help="weight of the teacher's probabilities vs. the labels")
    p.add_argument("--map-weight", type=float, default=1.0,
                   help="weight of the map term: the student's NG evidence map pulled toward the teacher's")
    p.add_argument("--unlabelled", default=None,
                   help="folder of images without labels (teacher terms only; a class folder unlabelled/ also works)")
    p.add_argument("--teacher-cache", default=None,
                   help="folder that keeps the teacher's outputs for the stored images (a later run reuses them)")
    p.add_argument("--fresh-synth", choices=["plate", "nut", "mixed"], default=None,
                   help="add freshly drawn synthetic parts every epoch (rendered in a background process)")
    p.add_argument("--fresh-count", type=int, default=500, help="fresh parts per epoch (default 500)")
    p.add_argument("--fresh-seed", type=int, default=1000, help="seed of the fresh parts (epoch e, part i)")
    p.set_defaults(func=cmd_train)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="accuracy, AUROC and localization against defect masks")
    p.add_argument("data_dir")
    add_model_args(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--deletion-images", type=int, default=64,
                   help="NG images that also get the deletion curve (mask-free faithfulness; 0 = off)")
    p.set_defaults(func=cmd_evaluate)


def _add_video(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="CAM over every frame of a video, with verdicts burned in")
    p.add_argument("input")
    add_model_args(p)
    p.add_argument("--out", required=True, help="output .mp4 (H.264), .webm or .gif")
    add_view_args(p)
    p.add_argument("--layout", default=Layout.OVERLAY.value, choices=choices(Layout))
    p.add_argument("--every", type=int, default=1, help="explain every N-th frame (others reuse its maps)")
    p.add_argument("--max-side", type=int, default=1280)
    p.add_argument("--csv", help="per-frame CSV: time, verdict, probability per class (events: <stem>.events.csv)")
    p.add_argument("--parts", action="store_true",
                   help="conveyor: follow each part across frames and give it one verdict")
    p.add_argument("--report", help="also write an HTML report (.html): parts, NG runs with thumbnails, timeline")
    p.add_argument("--batch-size", type=int, default=8)
    p.set_defaults(func=cmd_video)


def _add_weights(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="ImageNet weights on this machine: list, download (online), import a file")
    p.add_argument("action", choices=["list", "download", "import"])
    p.add_argument("target", nargs="?", help="download: an architecture; import: a file carried over")
    p.add_argument("--arch", default=None, help="import: the architecture the file is for (default: from its name)")
    p.set_defaults(func=cmd_weights)


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list shipped and user models with their cards")
    p.set_defaults(func=cmd_models)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m cam_core", description="CAM Inspector: why did the CNN call "
                                     "this part NG? Class activation maps for OK/NG inspection.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_explain(sub)
    _add_synth(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_video(sub)
    _add_weights(sub)
    _add_models(sub)
    _add_export_onnx(sub)
    _add_import(sub)
    add_batch(sub)
    add_report(sub)
    add_reference_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except _ArgumentError as exc:
        _err(f"{exc} (see --help)")
        return EXIT_ERROR
    except SystemExit as exc:     # --help
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_ERROR
    args.argv = argv
    try:
        return int(args.func(args))
    except CamInspectorError as exc:
        _err(str(exc))
        return EXIT_ERROR
    except OSError as exc:        # an output that cannot be written (or an input that cannot be read)
        _err(os_error_line(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except MemoryError:
        _err("out of memory: use smaller images, --batch-size 1 or --max-side")
        return EXIT_ERROR
