"""Image decoding: round trips, conversions, EXIF orientation, limits and typed errors.

Every input is generated here (Pillow, numpy, struct, zlib); nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import io
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from faceprint.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    ImageTooSmallError,
    UnsupportedImageError,
)
from faceprint.media import images
from faceprint.media.images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MIN_SIDE,
    IMAGE_SUFFIXES,
    DecodedImage,
    decode_image,
    find_images,
    load_image,
)

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)

# --- helpers -----------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def noisy(height: int = 256, width: int = 256, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_header_only(width: int, height: int) -> bytes:
    """A syntactically valid PNG whose IHDR claims width×height RGB but whose IDAT
    holds a single scanline: decoding it would fail, so refusing it proves the size
    was checked from the header alone."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * 3 * 8)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def with_orientation(image: Image.Image, fmt: str, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    options: dict[str, object] = {"exif": exif.tobytes()}
    if fmt == "JPEG":
        options["quality"] = 95
    return encode(image, fmt, **options)


# --- round trips -------------------------------------------------------------------


@pytest.mark.parametrize("colour", [RED, GREEN, BLUE])
@pytest.mark.parametrize(
    ("fmt", "suffix", "tolerance"),
    [
        ("JPEG", ".jpg", 3),
        ("PNG", ".png", 0),
        ("BMP", ".bmp", 0),
        ("WEBP", ".webp", 3),
        ("TIFF", ".tiff", 0),
        ("GIF", ".gif", 0),
    ],
)
def test_pure_colour_round_trip(tmp_path, fmt, suffix, tolerance, colour):
    path = write(tmp_path, f"img{suffix}", encode(Image.new("RGB", (60, 40), colour), fmt))
    decoded = decode_image(path)
    assert isinstance(decoded, DecodedImage)
    assert decoded.pixels.shape == (40, 60, 3)
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.flags.c_contiguous
    assert decoded.format == fmt
    assert decoded.exif_rotated is False
    assert (decoded.width, decoded.height) == (60, 40)
    diff = np.abs(decoded.pixels.astype(int) - np.array(colour)).max()
    assert diff <= tolerance


def test_png_round_trip_is_exact_and_writable(tmp_path):
    array = noisy(48, 64, seed=1)
    path = write(tmp_path, "noise.png", encode(Image.fromarray(array), "PNG"))
    pixels = load_image(path)
    np.testing.assert_array_equal(pixels, array)
    assert pixels.flags.writeable
    pixels[0, 0] = 7  # callers may draw on the result


def test_bytes_input_matches_path_input(tmp_path):
    data = encode(Image.fromarray(noisy(32, 40, seed=2)), "PNG")
    path = write(tmp_path, "a.png", data)
    from_bytes = decode_image(data)
    from_path = decode_image(path)
    assert from_bytes.name == "<bytes>"
    assert from_path.name == str(path)
    assert decode_image(str(path)).name == str(path)
    np.testing.assert_array_equal(from_bytes.pixels, from_path.pixels)
    assert from_bytes.sha256 == from_path.sha256 == hashlib.sha256(data).hexdigest()


def test_sha256_is_of_the_raw_bytes_not_the_pixels():
    image = Image.new("RGB", (20, 20), RED)
    png = encode(image, "PNG")
    png_compressed = encode(image, "PNG", compress_level=0)
    assert png != png_compressed
    a, b = decode_image(png), decode_image(png_compressed)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert a.sha256 == hashlib.sha256(png).hexdigest()
    assert b.sha256 == hashlib.sha256(png_compressed).hexdigest()
    assert a.sha256 != b.sha256


def test_defaults():
    assert DEFAULT_MAX_PIXELS == 100_000_000
    assert DEFAULT_MAX_BYTES == 200 * 1024 * 1024
    assert DEFAULT_MIN_SIDE == 16
    assert frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}) == (
        IMAGE_SUFFIXES
    )


# --- conversions -------------------------------------------------------------------


def quadrants(mode: str, colours: list[tuple[int, ...]], side: int = 32) -> Image.Image:
    """A 2side×2side image with four flat quadrants (TL, TR, BL, BR)."""
    image = Image.new(mode, (2 * side, 2 * side))
    for index, colour in enumerate(colours):
        x, y = (index % 2) * side, (index // 2) * side
        image.paste(colour, (x, y, x + side, y + side))
    return image


def quadrant_centres(pixels: np.ndarray, side: int = 32) -> list[np.ndarray]:
    h = side // 2
    return [pixels[h, h], pixels[h, side + h], pixels[side + h, h], pixels[side + h, side + h]]


def test_cmyk_jpeg_colours(tmp_path):
    cmyk = [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 255)]
    expected = [(0, 255, 255), (255, 0, 255), (255, 255, 0), (0, 0, 0)]
    data = encode(quadrants("CMYK", cmyk), "JPEG", quality=95)
    with Image.open(io.BytesIO(data)) as raw:
        assert raw.mode == "CMYK"
        assert raw.info.get("adobe")  # Pillow writes Adobe (inverted) CMYK
    decoded = decode_image(write(tmp_path, "cmyk.jpg", data))
    assert decoded.pixels.shape == (64, 64, 3)
    for got, want in zip(quadrant_centres(decoded.pixels), expected, strict=True):
        assert np.abs(got.astype(int) - np.array(want)).max() <= 8, (got, want)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_sixteen_bit_grey_is_shifted_not_clipped(fmt):
    values = np.array([0, 255, 256, 4095, 32768, 40000, 65280, 65535], dtype=np.uint16)
    array = np.tile(values, (16, 2))  # 16×16
    data = encode(Image.fromarray(array), fmt)
    with Image.open(io.BytesIO(data)) as raw:
        assert raw.mode.startswith("I;16")
    pixels = load_image(data)
    assert pixels.shape == (16, 16, 3)
    np.testing.assert_array_equal(pixels[0, :8, 0], [0, 0, 1, 15, 128, 156, 255, 255])
    np.testing.assert_array_equal(pixels[..., 0], (array >> 8).astype(np.uint8))
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 1])
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])


def test_sixteen_bit_pgm_uses_value_range():
    values = np.array([0, 256, 32768, 65535], dtype=np.uint16)
    data = encode(Image.fromarray(np.tile(values, (16, 4))), "PPM")  # a 16-bit PGM
    pixels = load_image(data)
    np.testing.assert_array_equal(pixels[0, :4], [[0] * 3, [1] * 3, [128] * 3, [255] * 3])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.25, 0.5, 1.0], [0, 64, 128, 255]),  # 0..1 floats
        ([0.0, 10.0, 200.0, 255.0], [0, 10, 200, 255]),  # 0..255 floats
        ([-5.0, 0.0, 500.0, 1000.0], [0, 0, 128, 255]),  # wider range: scaled by max
    ],
)
def test_float_grey_by_value_range(values, expected):
    array = np.tile(np.array(values, dtype=np.float32), (16, 4))
    data = encode(Image.fromarray(array, mode="F"), "TIFF")
    pixels = load_image(data)
    np.testing.assert_array_equal(pixels[0, :4, 1], expected)


def test_32_bit_int_grey_scaled_by_max():
    array = np.tile(np.array([0, 100_000, 200_000, 50], dtype=np.int32), (16, 4))
    data = encode(Image.fromarray(array, mode="I"), "TIFF")
    pixels = load_image(data)
    np.testing.assert_array_equal(pixels[0, :4, 2], [0, 127, 255, 0])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_grayscale_becomes_three_equal_channels(fmt):
    array = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))
    pixels = load_image(
        encode(Image.fromarray(array, mode="L"), fmt, **({} if fmt == "PNG" else {"quality": 100}))
    )
    assert pixels.shape == (16, 16, 3)
    tolerance = 0 if fmt == "PNG" else 2
    assert np.abs(pixels[..., 0].astype(int) - array).max() <= tolerance
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 1])
    np.testing.assert_array_equal(pixels[..., 1], pixels[..., 2])


def test_rgba_is_composited_over_white():
    colours = [(255, 0, 0, 0), (0, 0, 255, 255), (0, 0, 0, 128), (0, 255, 0, 255)]
    pixels = load_image(encode(quadrants("RGBA", colours), "PNG"))
    tl, tr, bl, br = quadrant_centres(pixels)
    np.testing.assert_array_equal(tl, [255, 255, 255])  # fully transparent red → white
    np.testing.assert_array_equal(tr, BLUE)  # opaque: unchanged
    assert np.abs(bl.astype(int) - 127).max() <= 1  # half-transparent black over white
    np.testing.assert_array_equal(br, GREEN)


def test_la_is_composited_over_white():
    pixels = load_image(encode(quadrants("LA", [(0, 0), (0, 255), (100, 255), (0, 0)]), "PNG"))
    tl, tr, bl, _ = quadrant_centres(pixels)
    np.testing.assert_array_equal(tl, [255, 255, 255])
    np.testing.assert_array_equal(tr, [0, 0, 0])
    np.testing.assert_array_equal(bl, [100, 100, 100])


def palette_image(transparent_index: int | None = None) -> Image.Image:
    image = Image.new("P", (32, 32), 0)
    image.putpalette([*RED, *GREEN, *BLUE] + [0, 0, 0] * 253)
    image.paste(1, (16, 0, 32, 16))
    image.paste(2, (0, 16, 16, 32))
    if transparent_index is not None:
        image.info["transparency"] = transparent_index
    return image


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP"])
def test_palette_image(fmt):
    data = encode(palette_image(), fmt)
    with Image.open(io.BytesIO(data)) as raw:
        assert raw.mode == "P"
    pixels = load_image(data)
    np.testing.assert_array_equal(quadrant_centres(pixels, side=16)[:3], [RED, GREEN, BLUE])


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_is_white(fmt):
    image = palette_image()
    pixels = load_image(encode(image, fmt, transparency=2))
    np.testing.assert_array_equal(quadrant_centres(pixels, side=16)[:3], [RED, GREEN, (255,) * 3])


@pytest.mark.parametrize(("fmt", "suffix"), [("GIF", ".gif"), ("TIFF", ".tif")])
def test_multi_frame_gives_first_frame(tmp_path, fmt, suffix):
    frames = [Image.new("RGB", (24, 24), c) for c in (RED, GREEN, BLUE)]
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:])
    with Image.open(io.BytesIO(buffer.getvalue())) as raw:
        assert getattr(raw, "n_frames", 1) == 3
    pixels = load_image(write(tmp_path, "anim" + suffix, buffer.getvalue()))
    assert pixels.shape == (24, 24, 3)
    np.testing.assert_array_equal(pixels[12, 12], RED)


# --- EXIF orientation --------------------------------------------------------------


def marked(width: int = 60, height: int = 40) -> Image.Image:
    """Black image, stored top-left 8×8 block red, stored top-right 8×8 block blue."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[:8, :8] = RED
    array[:8, -8:] = BLUE
    return Image.fromarray(array)


def is_colour(pixel: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(colour)).max() <= 40)


# orientation → shape of the upright image, where the red and blue marks land
# (row, col as fractions: 0 = first, 1 = last)
ORIENTATIONS = {
    1: ((40, 60), (0, 0), (0, 1)),
    3: ((40, 60), (1, 1), (1, 0)),  # rotated 180°
    6: ((60, 40), (0, 1), (1, 1)),  # display = stored rotated 90° clockwise
    8: ((60, 40), (1, 0), (0, 0)),  # display = stored rotated 90° counter-clockwise
}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation(tmp_path, fmt, orientation):
    shape, red_at, blue_at = ORIENTATIONS[orientation]
    path = write(
        tmp_path, f"o{orientation}.{fmt.lower()}", with_orientation(marked(), fmt, orientation)
    )
    decoded = decode_image(path)
    assert decoded.pixels.shape == (*shape, 3)
    assert decoded.exif_rotated is (orientation != 1)
    h, w = shape

    def corner(at: tuple[int, int]) -> np.ndarray:
        return decoded.pixels[3 if at[0] == 0 else h - 4, 3 if at[1] == 0 else w - 4]

    assert is_colour(corner(red_at), RED), corner(red_at)
    assert is_colour(corner(blue_at), BLUE), corner(blue_at)
    others = {(0, 0), (0, 1), (1, 0), (1, 1)} - {red_at, blue_at}
    for at in others:
        assert is_colour(corner(at), (0, 0, 0)), (at, corner(at))


def test_exif_orientation_6_matches_numpy_rotation():
    array = noisy(20, 30, seed=3)
    pixels = load_image(with_orientation(Image.fromarray(array), "PNG", 6))
    np.testing.assert_array_equal(pixels, np.rot90(array, k=-1))


# --- errors ------------------------------------------------------------------------


def test_missing_path(tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(ImageNotFoundError, match=r"nope\.jpg") as info:
        decode_image(missing)
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, ValueError)
    assert info.value.code == "image_not_found"


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(ImageNotFoundError, match="folder"):
        decode_image(tmp_path)


@pytest.mark.parametrize("as_path", [True, False])
def test_empty_input(tmp_path, as_path):
    source = write(tmp_path, "empty.jpg", b"") if as_path else b""
    with pytest.raises(EmptyImageError, match="empty"):
        decode_image(source)


def half_jpeg() -> bytes:
    data = encode(Image.fromarray(noisy()), "JPEG", quality=90)
    half = data[: len(data) // 2]
    with Image.open(io.BytesIO(half)) as header:  # the header survives: only pixel data is cut
        assert header.size == (256, 256)
    return half


@pytest.mark.parametrize("as_path", [True, False])
def test_truncated_jpeg(tmp_path, as_path):
    data = half_jpeg()
    source = write(tmp_path, "half.jpg", data) if as_path else data
    with pytest.raises(CorruptImageError, match="truncated") as info:
        decode_image(source)
    assert ("half.jpg" if as_path else "<bytes>") in str(info.value)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_png():
    data = encode(Image.fromarray(noisy(64, 64)), "PNG")
    with pytest.raises(CorruptImageError):
        decode_image(data[: len(data) * 2 // 3])


def test_damaged_png_data():
    data = bytearray(encode(Image.fromarray(noisy(64, 64)), "PNG"))
    start = data.find(b"IDAT") + 200
    data[start : start + 8] = b"\x00" * 8
    with pytest.raises(CorruptImageError, match="damaged"):
        decode_image(bytes(data))


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,  # PNG signature, no valid IHDR
        b"\xff\xd8\xff\xe0" + b"\x00" * 64,  # JPEG SOI, garbage after
        b"GIF89a\x00",  # GIF magic, header cut short
    ],
    ids=["png", "jpeg", "gif"],
)
def test_damaged_header_of_a_known_format_is_corrupt(data):
    with pytest.raises(CorruptImageError, match="header is damaged"):
        decode_image(data)


def test_text_file(tmp_path):
    path = write(tmp_path, "notes.jpg", b"these are not the pixels you are looking for\n" * 20)
    with pytest.raises(UnsupportedImageError, match=r"notes\.jpg.*not an image"):
        decode_image(path)


def test_random_bytes():
    data = np.random.default_rng(4).bytes(4096)
    assert images._sniff(data) is None
    with pytest.raises(UnsupportedImageError, match="<bytes>"):
        decode_image(data)


@pytest.mark.parametrize(
    "data",
    [
        encode(Image.new("RGB", (32, 32), RED), "ICO"),
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\n",
    ],
    ids=["ico", "eps"],
)
def test_formats_outside_the_allow_list_are_refused(data):
    with Image.open(io.BytesIO(data)) as raw:  # Pillow alone would open these
        assert raw.format in {"ICO", "EPS"}
    with pytest.raises(UnsupportedImageError):
        decode_image(data)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (15, 100), (100, 15)])
def test_too_small(tmp_path, width, height):
    path = write(tmp_path, "tiny.png", encode(Image.new("RGB", (width, height), RED), "PNG"))
    with pytest.raises(ImageTooSmallError, match=rf"tiny\.png.*{width}×{height}"):
        decode_image(path)


def test_min_side_boundary_and_override():
    exact = encode(Image.new("RGB", (16, 40), RED), "PNG")
    assert load_image(exact).shape == (40, 16, 3)
    one = encode(Image.new("RGB", (1, 1), GREEN), "PNG")
    np.testing.assert_array_equal(load_image(one, min_side=1), [[GREEN]])


def test_huge_header_is_refused_before_decoding(tmp_path):
    path = write(tmp_path, "bomb.png", png_header_only(20_000, 20_000))
    assert path.stat().st_size < 200
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may leak
        with pytest.raises(ImageTooLargeError, match=r"bomb\.png"):
            decode_image(path)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("width", "height", "max_pixels"),
    [
        (12_000, 10_000, DEFAULT_MAX_PIXELS),  # over our default, under Pillow's hard limit
        (5_000, 4_000, 1_000_000),
    ],
)
def test_pixel_limit_is_checked_from_the_header(width, height, max_pixels):
    data = png_header_only(width, height)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageTooLargeError, match=f"{width}×{height}"):
            decode_image(data, max_pixels=max_pixels)
    # the same bytes under a generous limit reach the decoder, which finds the data missing
    if width * height < 89_478_485:
        with pytest.raises(CorruptImageError):
            decode_image(data, max_pixels=width * height)


def test_pixel_limit_boundary():
    data = encode(Image.new("RGB", (100, 100), RED), "PNG")
    assert load_image(data, max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(ImageTooLargeError):
        load_image(data, max_pixels=9_999)


def test_byte_limit_is_checked_before_reading(tmp_path, monkeypatch):
    data = encode(Image.fromarray(noisy(64, 64)), "PNG")
    path = write(tmp_path, "big.png", data)

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened although it is over the limit")

    monkeypatch.setattr(images, "open", no_reading, raising=False)
    with pytest.raises(ImageTooLargeError, match=r"big\.png.*bytes"):
        decode_image(path, max_bytes=len(data) - 1)
    monkeypatch.undo()
    assert decode_image(path, max_bytes=len(data)).pixels.shape == (64, 64, 3)


def test_byte_limit_for_bytes_input():
    data = encode(Image.fromarray(noisy(64, 64)), "PNG")
    with pytest.raises(ImageTooLargeError):
        decode_image(data, max_bytes=1000)


@pytest.mark.parametrize(
    "error",
    [
        ImageNotFoundError,
        EmptyImageError,
        CorruptImageError,
        UnsupportedImageError,
        ImageTooLargeError,
        ImageTooSmallError,
    ],
)
def test_errors_are_image_errors_and_value_errors(error):
    assert issubclass(error, ImageError)
    assert issubclass(error, ValueError)


def test_decoding_sets_no_pillow_global():
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    with pytest.raises(ImageTooLargeError):
        decode_image(png_header_only(12_000, 10_000))
    decode_image(encode(Image.new("RGB", (20, 20), RED), "PNG"))
    after = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    assert before == after


# --- find_images -------------------------------------------------------------------


def test_find_images_walks_a_tree(tmp_path):
    tiny = encode(Image.new("RGB", (16, 16)), "PNG")
    for name in [
        "a.jpg",
        "B.PNG",
        "sub/c.jpeg",
        "sub/deeper/d.TIFF",
        "sub/e.webp",
        "notes.txt",
        "noext",
        ".hidden.jpg",
        ".cache/f.jpg",
        "sub/.git/g.png",
    ]:
        write(tmp_path, name, tiny)
    found = find_images(tmp_path)
    assert found == [
        tmp_path / "B.PNG",
        tmp_path / "a.jpg",
        tmp_path / "sub" / "c.jpeg",
        tmp_path / "sub" / "deeper" / "d.TIFF",
        tmp_path / "sub" / "e.webp",
    ]
    assert found == sorted(found)


def test_find_images_on_a_file_returns_it(tmp_path):
    path = write(tmp_path, "notes.txt", b"x")
    assert find_images(path) == [path]
    assert find_images(str(path)) == [path]


def test_find_images_empty_folder(tmp_path):
    assert find_images(tmp_path) == []


def test_find_images_missing_path(tmp_path):
    with pytest.raises(ImageNotFoundError, match="missing"):
        find_images(tmp_path / "missing")
