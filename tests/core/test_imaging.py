"""Tests for cam_core.data.imaging: every bad-input kind gives a clear InputError or a noted conversion.

The whole corpus is generated here (no binary files committed).
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from cam_core.data import imaging
from cam_core.data.imaging import LoadedImage, iter_image_files, load_image, sanitize_filename
from cam_core.errors import InputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- corpus helpers


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A hand-made PNG: lets the header claim any size, or hold 16-bit colour."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def noise(size: tuple[int, int] = (64, 64)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(source: object, *patterns: str) -> str:
    with pytest.raises(InputError) as info:
        load_image(source)  # type: ignore[arg-type]
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message, re.IGNORECASE), message
    return message


def assert_rgb(loaded: LoadedImage) -> None:
    assert isinstance(loaded, LoadedImage)
    assert loaded.image.mode == "RGB"
    assert loaded.image.size == loaded.size


# --------------------------------------------------------------------------- damaged / wrong content


def test_zero_byte_file(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.png", b"")
    refused(path, r"empty\.png", r"empty \(0 bytes\)")


def test_truncated_png(tmp_path: Path) -> None:
    data = encode(noise(), "PNG")
    path = write(tmp_path, "cut.png", data[: len(data) // 2])
    refused(path, r"cut\.png", "truncated", "again")


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_jpeg(tmp_path: Path, keep: float) -> None:
    data = encode(noise(), "JPEG", quality=90)
    path = write(tmp_path, "cut.jpg", data[: int(len(data) * keep)])
    refused(path, r"cut\.jpg", "truncated")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_jpeg_refused_even_if_global_switched_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = encode(noise(), "JPEG", quality=90)
    refused(write(tmp_path, "cut.jpg", data[: len(data) // 2]), "truncated")


def test_random_bytes_named_png(tmp_path: Path) -> None:
    data = np.random.default_rng(1).bytes(3000)
    refused(write(tmp_path, "noise.png", data), r"noise\.png", "not an image", "PNG")


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        (
            "drawing.png",
            b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
            "SVG",
        ),
        ("bare.png", b'<svg width="10" height="10"><rect width="5" height="5"/></svg>', "SVG"),
        ("scan.png", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "PDF"),
        ("page.jpg", b"<!DOCTYPE html>\n<html><head><title>x</title></head><body>hi</body></html>", "HTML"),
        ("page2.png", b"\xef\xbb\xbf  <html lang='en'><body><img src='a.png'></body></html>", "HTML"),
    ],
)
def test_documents_renamed_as_images(tmp_path: Path, name: str, data: bytes, kind: str) -> None:
    refused(write(tmp_path, name, data), re.escape(name), kind, "not a raster image", "PNG or JPEG")


def test_text_file_named_jpg(tmp_path: Path) -> None:
    data = b"Inspection notes, line 3: all parts OK.\n" * 20
    refused(write(tmp_path, "notes.jpg", data), r"notes\.jpg", "text file")


def test_directory_and_missing_path(tmp_path: Path) -> None:
    refused(tmp_path, "is a folder")
    refused(tmp_path / "nope.png", r"nope\.png", "does not exist")
    refused(str(tmp_path / "nope.png"), "does not exist")


def test_file_too_large_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "big.png", encode(noise(), "PNG"))
    data = path.read_bytes()
    monkeypatch.setattr(imaging, "MAX_FILE_BYTES", 100)
    with open(path, "rb") as stream:
        refused(stream, r"big\.png", "MB", "refused")
    refused(data, "refused")

    def no_open(*args: object, **kwargs: object) -> None:
        pytest.fail("the file must not be opened")

    monkeypatch.setattr(imaging, "open", no_open, raising=False)
    refused(path, r"big\.png", "MB", "refused")


# --------------------------------------------------------------------------- size policies


@pytest.mark.parametrize("size", [(10_000, 6_000), (10_000, 9_000), (40_000, 40_000)])
def test_decompression_bomb_refused_before_decoding(tmp_path: Path, size: tuple[int, int]) -> None:
    # Header claims a huge image; the pixel data is just 10 zero bytes, so any attempt to
    # decode would fail as "truncated" instead: the bomb message proves no pixel was decoded.
    data = raw_png(size[0], size[1], 1, 0, b"\x00" * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL's DecompressionBombWarning must not leak either
        message = refused(write(tmp_path, "bomb.png", data), r"bomb\.png", "decompression bomb", "50 million")
    assert "truncated" not in message


def test_real_compressible_image_above_pixel_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imaging, "MAX_IMAGE_PIXELS", 100_000)
    path = write(tmp_path, "large.png", encode(Image.new("1", (500, 300)), "PNG"))
    refused(path, "150000 px|0.1 million", "decompression bomb")


def test_one_pixel_accepted(tmp_path: Path) -> None:
    loaded = load_image(write(tmp_path, "dot.png", encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG")))
    assert_rgb(loaded)
    assert loaded.size == (1, 1)
    assert loaded.image.getpixel((0, 0)) == (1, 2, 3)
    assert loaded.notes == ()
    assert loaded.name == "dot.png"


def test_extreme_aspect_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "strip.png", encode(Image.new("L", (20_000, 50)), "PNG"))
    refused(path, r"strip\.png", "20000×50", "400:1", "100:1", "tiles")
    tall = write(tmp_path, "tall.png", encode(Image.new("L", (50, 20_000)), "PNG"))
    refused(tall, "400:1")


def test_aspect_at_limit_accepted_and_policy_is_the_constant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_image(write(tmp_path, "ok.png", encode(Image.new("L", (5_000, 50)), "PNG"))).size == (
        5_000,
        50,
    )
    monkeypatch.setattr(imaging, "MAX_ASPECT", 500.0)
    path = write(tmp_path, "strip.png", encode(Image.new("L", (20_000, 50)), "PNG"))
    assert load_image(path).size == (20_000, 50)


# --------------------------------------------------------------------------- colour conversions


def test_16bit_grayscale_png_scaled_over_full_range(tmp_path: Path) -> None:
    values = np.array([[0, 32_896, 65_535, 1_000]], dtype=np.uint16)
    path = write(tmp_path, "deep.png", encode(Image.fromarray(values), "PNG"))
    loaded = load_image(path)
    assert_rgb(loaded)
    assert loaded.original_mode.startswith("I")
    assert np.asarray(loaded.image)[0, :, 0].tolist() == [0, 128, 255, 4]
    assert any("16-bit" in note and "8-bit" in note for note in loaded.notes)


def test_16bit_rgb_png(tmp_path: Path) -> None:
    row = b"\x00" + struct.pack(">6H", 65_535, 0, 32_768, 0, 65_535, 257)
    loaded = load_image(write(tmp_path, "deep_rgb.png", raw_png(2, 1, 16, 2, row)))
    assert_rgb(loaded)
    assert np.asarray(loaded.image)[0].tolist() == [[255, 0, 128], [0, 255, 1]]
    assert any("16-bit PNG converted to 8-bit" in note for note in loaded.notes)


def test_float_tiff_scaled(tmp_path: Path) -> None:
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    loaded = load_image(write(tmp_path, "f.tif", encode(Image.fromarray(values), "TIFF")))
    assert np.asarray(loaded.image)[0, :, 0].tolist() == [0, 128, 255]
    assert any("float" in note for note in loaded.notes)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = write(
        tmp_path, "print.jpg", encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    )
    loaded = load_image(path)
    assert_rgb(loaded)
    assert loaded.original_mode == "CMYK"
    red, green, blue = loaded.image.getpixel((8, 8))
    assert red > 220 and green < 40 and blue < 40
    assert any("CMYK converted to RGB" in note for note in loaded.notes)


def test_palette_png_with_transparency_flattened_on_white(tmp_path: Path) -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    loaded = load_image(write(tmp_path, "pal.png", encode(image, "PNG", transparency=0)))
    assert_rgb(loaded)
    assert loaded.original_mode == "P"
    assert loaded.image.getpixel((0, 0)) == (255, 255, 255)
    assert loaded.image.getpixel((1, 0)) == (0, 0, 255)
    assert any("transparency flattened on white" in note for note in loaded.notes)


def test_rgba_flattened_on_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (3, 1))
    image.putdata([(255, 0, 0, 0), (255, 0, 0, 255), (0, 0, 0, 128)])
    loaded = load_image(write(tmp_path, "alpha.png", encode(image, "PNG")))
    assert loaded.image.getpixel((0, 0)) == (255, 255, 255)
    assert loaded.image.getpixel((1, 0)) == (255, 0, 0)
    assert all(abs(channel - 127) <= 1 for channel in loaded.image.getpixel((2, 0)))
    assert "transparency flattened on white" in loaded.notes


def test_opaque_rgba_noted_as_dropped_alpha(tmp_path: Path) -> None:
    loaded = load_image(encode(Image.new("RGBA", (2, 2), (9, 8, 7, 255)), "PNG"))
    assert loaded.image.getpixel((0, 0)) == (9, 8, 7)
    assert loaded.notes == ("fully opaque alpha channel dropped",)


def test_grayscale_l_and_la(tmp_path: Path) -> None:
    gray = load_image(write(tmp_path, "g.png", encode(Image.new("L", (2, 2), 77), "PNG")))
    assert gray.image.getpixel((0, 0)) == (77, 77, 77)
    assert gray.original_mode == "L"
    assert any("grayscale" in note for note in gray.notes)
    image = Image.new("LA", (2, 1))
    image.putdata([(50, 0), (50, 255)])
    both = load_image(write(tmp_path, "ga.png", encode(image, "PNG")))
    assert both.image.getpixel((0, 0)) == (255, 255, 255)
    assert both.image.getpixel((1, 0)) == (50, 50, 50)
    assert any("transparency flattened" in note for note in both.notes)


@pytest.mark.parametrize(("orientation", "marker"), [(6, (18, 1)), (8, (1, 38))])
def test_exif_rotated_jpeg(tmp_path: Path, orientation: int, marker: tuple[int, int]) -> None:
    # Stored 40×20 with a red block in the top-left corner. Orientation 6 = rotate 90° clockwise
    # for display (block ends top-right), 8 = 90° counter-clockwise (block ends bottom-left).
    image = Image.new("RGB", (40, 20), (255, 255, 255))
    image.paste((255, 0, 0), (0, 0, 4, 4))
    exif = Image.Exif()
    exif[0x0112] = orientation
    loaded = load_image(write(tmp_path, "cam.jpg", encode(image, "JPEG", quality=95, exif=exif)))
    assert loaded.size == (20, 40)
    red, green, blue = loaded.image.getpixel(marker)
    assert red > 200 and green < 60 and blue < 60
    assert loaded.image.getpixel((10, 20)) == pytest.approx((255, 255, 255), abs=8)
    assert any(
        "EXIF rotation applied" in note and f"orientation {orientation}" in note for note in loaded.notes
    )


def test_animated_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), color) for color in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    loaded = load_image(path)
    assert_rgb(loaded)
    assert loaded.image.getpixel((4, 4)) == (255, 0, 0)
    assert "animated GIF: used the first of 3 frames" in loaded.notes


def test_multipage_tiff_first_page(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (8, 8), (10, 20, 30)), Image.new("RGB", (4, 4), (200, 0, 0))]
    path = tmp_path / "pages.tiff"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    loaded = load_image(path)
    assert loaded.size == (8, 8)
    assert loaded.image.getpixel((0, 0)) == (10, 20, 30)
    assert "multi-page TIFF: used the first of 2 pages" in loaded.notes


# --------------------------------------------------------------------------- sources and names


def test_bytes_and_stream_sources() -> None:
    data = encode(Image.new("RGB", (3, 2), (5, 6, 7)), "PNG")
    from_bytes = load_image(data)
    assert from_bytes.name == "image" and from_bytes.size == (3, 2)
    stream = io.BytesIO(data)
    stream.name = "uploads/../My Part #7.png"  # type: ignore[attr-defined]
    from_stream = load_image(stream)
    assert from_stream.name == "My_Part_7.png"
    assert load_image(data, name="../../etc/é vil.png").name == "e_vil.png"


def test_returned_image_is_detached(tmp_path: Path) -> None:
    path = write(tmp_path, "a.png", encode(Image.new("RGB", (4, 4), (1, 1, 1)), "PNG"))
    loaded = load_image(path)
    path.unlink()
    assert loaded.image.getpixel((3, 3)) == (1, 1, 1)
    assert not isinstance(loaded.image, ImageFile.ImageFile)


def test_message_strips_control_characters() -> None:
    with pytest.raises(InputError) as info:
        load_image(b"", name="bad\x1b[31mname.png")
    assert "\x1b" not in str(info.value)
    assert "bad?[31mname.png" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("part_01.png", "part_01.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\shot.JPG", "shot.JPG"),
        ("..", "file"),
        ("", "file"),
        (".hidden.png", "hidden.png"),
        ("Ünïcode image (1).png", "Unicode_image_1_.png"),
        ("日本語.png", "file.png"),
        ("a\x00b\x1b.png", "a_b_.png"),
        ("a..b.png", "a.b.png"),
        ("-rf", "rf"),
        ("CON.txt", "CON_.txt"),
    ],
)
def test_sanitize_filename(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_sanitize_filename_invariants() -> None:
    long_name = sanitize_filename("x" * 500 + ".png")
    assert len(long_name) == 120 and long_name.endswith(".png")
    assert sanitize_filename("???", default="image") == "image"
    for raw in ["../a/..", "/", "..\\..", "....", "a/b/../c.png", "\x00\x01", " .png"]:
        name = sanitize_filename(raw)
        assert name and re.fullmatch(r"[A-Za-z0-9._-]+", name) and ".." not in name
        assert not name.startswith(".")


def test_iter_image_files(tmp_path: Path) -> None:
    for rel in ["b.JPG", "a.png", "notes.txt", ".hidden.png", "sub/c.tif", ".git/d.png", "__MACOSX/e.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    names = [p.relative_to(tmp_path).as_posix() for p in iter_image_files([tmp_path])]
    assert names == ["a.png", "b.JPG", "sub/c.tif"]
    flat = [p.name for p in iter_image_files([tmp_path], recursive=False)]
    assert flat == ["a.png", "b.JPG"]
    explicit = iter_image_files([tmp_path / "notes.txt", tmp_path / "a.png", tmp_path])
    assert [p.name for p in explicit] == ["notes.txt", "a.png", "b.JPG", "c.tif"]
    with pytest.raises(InputError, match="does not exist"):
        iter_image_files([tmp_path / "missing"])
