"""The CLI on bad input: a corpus of bad files, options and write failures, each run in-process.

Every case asserts the exit code, exactly one ``error:`` line on stderr naming the problem, and no
traceback. Cases whose message could only come from an argument check (``--model nope`` would fail
later) show that the check runs before the model loads.
"""

from __future__ import annotations

import errno
import os
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from clips import moving_frames, write_clip
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from cam_core import files
from cam_core.cli import main
from cam_core.interop import onnx_model
from cam_core.video import encode

EXIT_OK, EXIT_SOME_FAILED, EXIT_ERROR = 0, 1, 2


def _image(path: Path, seed: int = 0, size: tuple[int, int] = (48, 64)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
    return path


def _onnx_graph(path: Path, input_dims: list[int | str], *, damaged_weight: bool = False) -> Path:
    """x (``input_dims``) → 1×1 Conv (3→4) → GlobalAveragePool → Flatten → Gemm (4→2): a CAM-able graph."""
    rng = np.random.default_rng(0)
    conv = numpy_helper.from_array(rng.normal(size=(4, 3, 1, 1)).astype(np.float32), "conv_w")
    weight = numpy_helper.from_array(rng.normal(size=(2, 4)).astype(np.float32), "w")
    if damaged_weight:             # claims 2×400000 values, stores 8
        del weight.dims[:]
        weight.dims.extend([2, 400_000])
    bias = numpy_helper.from_array(np.zeros(2, dtype=np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "conv_w"], ["a"]), helper.make_node("GlobalAveragePool", ["a"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [conv, weight, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


@dataclass(frozen=True)
class Case:
    """One bad input: ``make(tmp_path, model)`` writes what it needs and returns the argv."""

    make: Callable[[Path, Path], list[str]]
    code: int
    says: str                      # a fragment of the one error line


def _explain(*extra: str) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, model: Path) -> list[str]:
        return ["explain", str(_image(tmp / "a.png")), "--model", str(model), "--json", *extra]
    return make


def _before_model(*extra: str, command: str = "explain") -> Callable[[Path, Path], list[str]]:
    """argv with ``--model nope``: the line must be about the option, so the check ran before the load."""
    def make(tmp: Path, model: Path) -> list[str]:
        target = str(_image(tmp / "a.png")) if command == "explain" else str(tmp / "in.mp4")
        tail = ["--out", str(tmp / "out.mp4")] if command == "video" else []
        return [command, target, "--model", "nope", *tail, *extra]
    return make


def _existing_file_as(option: str) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, model: Path) -> list[str]:
        (tmp / "taken").write_text("a file, not a folder")
        return [*_explain()(tmp, model), option, str(tmp / "taken")]
    return make


def _huge_onnx(tmp: Path, model: Path) -> list[str]:
    return ["explain", str(_image(tmp / "a.png")), "--model", str(_onnx_graph(tmp / "huge.onnx", [1, 3, 30000, 30000]))]


def _huge_batch_onnx(tmp: Path, model: Path) -> list[str]:
    return ["explain", str(_image(tmp / "a.png")), "--model", str(_onnx_graph(tmp / "batch.onnx", [100000, 3, 64, 64]))]


def _damaged_onnx(tmp: Path, model: Path) -> list[str]:
    path = _onnx_graph(tmp / "damaged.onnx", ["n", 3, 64, 64], damaged_weight=True)
    return ["explain", str(_image(tmp / "a.png")), "--model", str(path)]


def _text_video(tmp: Path, model: Path) -> list[str]:
    (tmp / "notes.mp4").write_text("not a video\n" * 20)
    return ["video", str(tmp / "notes.mp4"), "--out", str(tmp / "o.mp4"), "--model", str(model)]


def _onnx_under_a_file(tmp: Path, model: Path) -> list[str]:
    (tmp / "taken").write_text("a file, not a folder")
    return ["export-onnx", str(model), str(tmp / "taken" / "x.onnx")]


def _only_missing(tmp: Path, model: Path) -> list[str]:
    return ["explain", str(tmp / "gone.png"), "--model", str(model)]


CORPUS: dict[str, Case] = {
    "onnx declaring a 30000x30000 input": Case(_huge_onnx, EXIT_ERROR, "30000×30000"),
    "onnx declaring a fixed batch of 100000": Case(_huge_batch_onnx, EXIT_ERROR, "fixed batch of 100000"),
    "onnx initializer claiming more values than it holds": Case(_damaged_onnx, EXIT_ERROR, "does not hold the values"),
    "explain --colormap bogus": Case(_before_model("--colormap", "bogus"), EXIT_ERROR, "invalid choice: 'bogus'"),
    "explain --opacity 5": Case(_before_model("--opacity", "5"), EXIT_ERROR, "opacity must be between 0 and 1"),
    "explain --opacity nan": Case(_before_model("--opacity", "nan"), EXIT_ERROR, "opacity must be between 0 and 1, not nan"),
    "explain --opacity -0.1": Case(_before_model("--opacity", "-0.1"), EXIT_ERROR, "opacity must be between 0 and 1"),
    "explain --opacity abc": Case(_before_model("--opacity", "abc"), EXIT_ERROR, "invalid float value"),
    "explain --method bogus": Case(_before_model("--method", "bogus"), EXIT_ERROR, "invalid choice"),
    "explain without paths": Case(lambda tmp, model: ["explain"], EXIT_ERROR, "required"),
    "unknown command": Case(lambda tmp, model: ["explode"], EXIT_ERROR, "invalid choice: 'explode'"),
    "video --opacity 5": Case(_before_model("--opacity", "5", command="video"), EXIT_ERROR, "opacity must be"),
    "video --every 0": Case(_before_model("--every", "0", command="video"), EXIT_ERROR, "every must be 1 or more"),
    "video --max-side 4": Case(_before_model("--max-side", "4", command="video"), EXIT_ERROR, "max_side must be"),
    "video --layout diagonal": Case(_before_model("--layout", "diagonal", command="video"), EXIT_ERROR,
                                    "invalid choice: 'diagonal'"),
    "explain --out naming an existing file": Case(_existing_file_as("--out"), EXIT_ERROR, "taken: "),
    "explain --save-maps naming an existing file": Case(_existing_file_as("--save-maps"), EXIT_ERROR, "taken: "),
    "explain of a missing path only": Case(_only_missing, EXIT_ERROR, "gone.png' does not exist"),
    "video of a missing file": Case(lambda tmp, model: ["video", str(tmp / "gone.mp4"), "--out", str(tmp / "o.mp4"),
                                                        "--model", str(model)], EXIT_ERROR, "video not found"),
    "video of a text file": Case(_text_video, EXIT_ERROR, "is a text file, not a video"),
    "export-onnx under a file": Case(_onnx_under_a_file, EXIT_ERROR, "taken: File exists (a file is in the way"),
    "synth --size 100000": Case(lambda tmp, model: ["synth", str(tmp / "s"), "--count", "1", "--size", "100000"],
                                EXIT_ERROR, "size must be 32 to 4096 px; got 100000"),
    "train --resize bogus": Case(lambda tmp, model: ["train", str(tmp), "--resize", "bogus"], EXIT_ERROR,
                                 "invalid choice: 'bogus'"),
}


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error:" in line]


@pytest.mark.parametrize("name", list(CORPUS))
def test_bad_input_gives_one_line_and_an_exit_code(name: str, tmp_path: Path, squeeze_checkpoint: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    case = CORPUS[name]
    argv = case.make(tmp_path, squeeze_checkpoint)
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == case.code, err
    lines = _error_lines(err)
    assert len(lines) == 1 and case.says in lines[0], err
    assert len(err.strip().splitlines()) == 1, err           # nothing but that line (no usage block)
    assert not list(tmp_path.rglob(f"*{files.PARTIAL_MARK}*"))


def test_huge_declared_onnx_input_is_refused_before_anything_is_allocated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """30000×30000×3 float32 would be 10.8 GB per image: no session is made and little memory is touched."""
    model = _onnx_graph(tmp_path / "huge.onnx", [1, 3, 30000, 30000])
    assert model.stat().st_size < 4096

    def no_session(*args: object, **kwargs: object) -> None:
        raise AssertionError("an onnxruntime session was made for a graph that should have been refused")

    monkeypatch.setattr(onnx_model, "OnnxCamRuntime", no_session)
    tracemalloc.start()
    try:
        code = main(["explain", str(_image(tmp_path / "a.png")), "--model", str(model)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == EXIT_ERROR and "between 16 and 2048" in err and "30000×30000" in err
    assert peak < 64 * 1024**2, f"{peak / 1024**2:.0f} MB traced while refusing the graph"


def test_dynamic_onnx_input_gets_the_bounded_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _onnx_graph(tmp_path / "dynamic.onnx", ["n", 3, "h", "w"])
    assert main(["explain", str(_image(tmp_path / "a.png")), "--model", str(model), "--json"]) == EXIT_OK
    card = onnx_model.read_onnx_card(model)
    assert card["input_size"] == [224, 224] and any("224×224 assumed" in note for note in card["notes"])


def test_a_missing_path_does_not_stop_the_others(tmp_path: Path, squeeze_checkpoint: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    good = [_image(tmp_path / "a.png", 1), _image(tmp_path / "b.png", 2)]
    out = tmp_path / "out"
    code = main(["explain", str(good[0]), str(tmp_path / "gone.png"), str(good[1]), "--model",
                 str(squeeze_checkpoint), "--out", str(out), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == EXIT_SOME_FAILED and "Traceback" not in captured.err
    lines = _error_lines(captured.err)
    assert len(lines) == 1 and "gone.png" in lines[0]
    assert "2 explained, 1 failed" in captured.err
    assert [line.split(":")[0] for line in captured.out.splitlines()] == [str(good[0]), str(good[1])]
    assert (out / "results.csv").read_text().count("\n") == 3      # header + both good images


def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_explaining_is_one_line_naming_the_file(tmp_path: Path, squeeze_checkpoint: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(files, "_fsync", _enospc)        # the last step of every atomic write
    out = tmp_path / "out"
    code = main(["explain", str(_image(tmp_path / "a.png")), "--model", str(squeeze_checkpoint), "--out", str(out),
                 "--json"])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR and "Traceback" not in err
    lines = _error_lines(err)
    assert len(lines) == 1 and str(out / "a_") in lines[0] and "No space left on device" in lines[0], err
    assert list(out.iterdir()) == []                     # no partial file, nothing that looks complete


def test_unwritable_folder_while_explaining_is_one_line(tmp_path: Path, squeeze_checkpoint: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A read-only folder, simulated (tests run as root, which ignores permissions): creating the temporary
    file fails with EACCES, and the line names the file asked for, not the temporary one."""
    real_open = os.open

    def refusing_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if files.PARTIAL_MARK in os.fspath(path):   # type: ignore[call-overload]
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))  # type: ignore[call-overload]
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "open", refusing_open)
    maps = tmp_path / "maps"
    code = main(["explain", str(_image(tmp_path / "a.png")), "--model", str(squeeze_checkpoint), "--save-maps",
                 str(maps), "--json"])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR and "Traceback" not in err
    lines = _error_lines(err)
    assert len(lines) == 1 and f"{maps / 'a.npy'}: Permission denied" in lines[0], err


def test_disk_full_while_writing_a_video(tmp_path: Path, squeeze_checkpoint: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    clip = write_clip(tmp_path / "in.mp4", moving_frames(6, width=64, height=48))
    monkeypatch.setattr(encode.Writer, "write_prepared", _enospc)
    out = tmp_path / "out.mp4"
    code = main(["video", str(clip), "--out", str(out), "--model", str(squeeze_checkpoint), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR and "Traceback" not in err
    lines = _error_lines(err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"{out}: No space left on device" in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "in.mp4"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_truncated_video_says_how_many_of_the_declared_frames_it_got(tmp_path: Path, squeeze_checkpoint: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    noisy = [rng.integers(0, 255, (96, 160, 3), dtype=np.uint8) for _ in range(30)]
    full = write_clip(tmp_path / "full.mp4", noisy, options={"movflags": "+faststart"})   # index at the front
    data = full.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[:len(data) * 6 // 10])
    out = tmp_path / "out.mp4"
    code = main(["video", str(tmp_path / "cut.mp4"), "--out", str(out), "--model", str(squeeze_checkpoint),
                 "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == EXIT_SOME_FAILED and "Traceback" not in err and out.is_file()
    wrote = [line for line in err.splitlines() if line.startswith("wrote ")]
    assert len(wrote) == 1 and "of 30 declared frames; the file ends early" in wrote[0], err
    got = int(wrote[0].split("(")[1].split(" of ")[0])
    assert 0 < got < 30
    assert any(line.startswith("warning: ") and "truncated" in line for line in err.splitlines())


def test_an_unreadable_mask_is_skipped_by_evaluate(tmp_path: Path, squeeze_checkpoint: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "set"
    for i in range(3):
        _image(data / "ok" / f"ok_{i}.png", i)
        _image(data / "ng" / f"ng_{i}.png", 10 + i)
    (data / "masks").mkdir()
    for i in (0, 1):
        mask = np.zeros((48, 64), dtype=np.uint8)
        mask[10:20, 10:30] = 255
        Image.fromarray(mask).save(data / "masks" / f"ng_{i}.png")
    (data / "masks" / "ng_2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)   # damaged
    (data / "ok" / "broken.png").write_bytes(b"not an image")
    code = main(["evaluate", str(data), "--model", str(squeeze_checkpoint), "--device", "cpu", "--json"])
    captured = capsys.readouterr()
    assert code == EXIT_SOME_FAILED and "Traceback" not in captured.err
    import json

    report = json.loads(captured.out)
    skipped = {entry["file"] for entry in report["skipped_files"]}
    assert skipped == {"masks/ng_2.png", "ok/broken.png"}
    assert report["n_images"] == 6                        # the NG image of the bad mask is still classified
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: skipped")]
    assert len(warnings) == 2 and any("ng_2.png" in line for line in warnings)
