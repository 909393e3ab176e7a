"""Tiny but real files for uploaded documents and photos: PDF, PNG and baseline JPEG.

Everything is built in code with the standard library (no Pillow, no files on disk), so that
the chart's document viewer gets something a browser really opens. Images are drawn once
per variant and cached: the generator hands out the same bytes to many citizens.
"""

from __future__ import annotations

import math
import random
import struct
import textwrap
import zlib
from functools import cache

# --- PDF -------------------------------------------------------------------------------------


def _pdf_string(text: str) -> bytes:
    """Return a PDF literal string in WinAnsiEncoding, escaped, as ASCII bytes."""
    out = bytearray(b"(")
    for byte in text.encode("cp1252", errors="replace"):
        if byte in (0x28, 0x29, 0x5C):  # ( ) \
            out += b"\\" + bytes([byte])
        elif 0x20 <= byte < 0x7F:
            out.append(byte)
        else:
            out += b"\\%03o" % byte
    out += b")"
    return bytes(out)


def pdf(title: str, lines: list[str], *, created: str) -> bytes:
    """Return a one-page A4 PDF with a bold title and wrapped Danish body text.

    ``created`` is a FHIR dateTime (``2025-11-20T08:15:00+01:00``); it becomes the document's
    CreationDate so that the same input always gives the same bytes.
    """
    wrapped: list[str] = []
    for line in lines:
        wrapped.extend(textwrap.wrap(line, 88) or [""])
    body = b"BT /F2 15 Tf 56 780 Td (" + _pdf_string(title)[1:] + b" Tj ET\n"
    body += b"BT /F1 10.5 Tf 56 752 Td 15 TL\n"
    for line in wrapped[:46]:
        body += _pdf_string(line) + b" Tj T*\n"
    body += b"ET\n"
    stamp = created[:19].replace("-", "").replace("T", "").replace(":", "")
    offset = created[19:].replace(":", "'") if len(created) > 19 else "Z"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(body) + body + b"endstream",
        b"<< /Title "
        + _pdf_string(title)
        + b" /Producer (Indblik synthetic data) /CreationDate "
        + _pdf_string(f"D:{stamp}{offset}'" if offset != "Z" else f"D:{stamp}Z")
        + b" >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for position in offsets:
        out += b"%010d 00000 n \n" % position
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (len(objects) + 1, len(objects))
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


# --- raster drawing ----------------------------------------------------------------------------

Pixels = list[list[tuple[int, int, int]]]


def _clamp(value: float) -> int:
    return 0 if value < 0 else 255 if value > 255 else int(value)


def wound_pixels(stage: int, *, width: int = 64, height: int = 48) -> Pixels:
    """Draw a close-up 'photo' of a wound on skin: smaller and pinker as ``stage`` (0-3) heals."""
    rng = random.Random(1000 + stage)
    radius_x = width * (0.32 - 0.06 * stage)
    radius_y = height * (0.26 - 0.05 * stage)
    cx, cy = width / 2, height * 0.45
    rows: Pixels = []
    for y in range(height):
        row = []
        for x in range(width):
            noise = rng.uniform(-9, 9)
            # Skin, a little darker towards the edges like a flash photo.
            shade = 1.0 - 0.25 * (((x - cx) / width) ** 2 + ((y - cy) / height) ** 2)
            r, g, b = 224 * shade + noise, 180 * shade + noise, 150 * shade + noise
            d = ((x - cx) / radius_x) ** 2 + ((y - cy) / radius_y) ** 2
            if d < 1.0:
                if d < 0.35 and stage < 2:
                    r, g, b = 214 + noise, 196 + noise, 120 + noise  # yellow fibrin
                else:
                    r, g, b = 178 + 10 * stage + noise, 52 + 12 * stage + noise, 58 + noise
            elif d < 1.5:
                r, g, b = r + 18 - 4 * stage, g - 30 + 6 * stage, b - 22 + 4 * stage  # erythema
            if y >= height - 7:  # a paper measuring tape along the bottom edge
                r, g, b = (40, 40, 40) if x % 6 == 0 and y < height - 3 else (246, 246, 240)
            row.append((_clamp(r), _clamp(g), _clamp(b)))
        rows.append(row)
    return rows


def ecg_pixels(*, width: int = 96, height: int = 40) -> Pixels:
    """Draw a strip of an ECG printout: pink millimetre grid and a black sinus-rhythm trace."""
    trace: dict[int, int] = {}
    for x in range(width):
        phase = (x % 32) / 32
        if 0.40 < phase < 0.44:
            level = -14.0  # R wave
        elif 0.44 <= phase < 0.47:
            level = 5.0  # S wave
        elif 0.15 < phase < 0.25:
            level = -3.0 * math.sin((phase - 0.15) / 0.10 * math.pi)  # P wave
        elif 0.60 < phase < 0.80:
            level = -5.0 * math.sin((phase - 0.60) / 0.20 * math.pi)  # T wave
        else:
            level = 0.0
        trace[x] = int(height * 0.6 + level)
    rows: Pixels = []
    for y in range(height):
        row = []
        for x in range(width):
            if abs(trace[x] - y) <= 0 or (
                x and min(trace[x], trace[x - 1]) <= y <= max(trace[x], trace[x - 1])
            ):
                row.append((20, 20, 20))
            elif x % 10 == 0 or y % 10 == 0:
                row.append((236, 150, 160))
            elif x % 2 == 0 or y % 2 == 0:
                row.append((250, 214, 218))
            else:
                row.append((255, 244, 244))
        rows.append(row)
    return rows


# --- PNG ---------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(pixels: Pixels, *, title: str = "") -> bytes:
    """Encode 8-bit RGB pixels as a PNG (zlib + struct, filter type 0 on every row)."""
    height, width = len(pixels), len(pixels[0])
    raw = bytearray()
    for row in pixels:
        raw.append(0)
        for r, g, b in row:
            raw += bytes((r, g, b))
    out = b"\x89PNG\r\n\x1a\n" + _png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    )
    if title:
        out += _png_chunk(b"tEXt", b"Title\x00" + title.encode("latin-1", errors="replace"))
    out += _png_chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    return out + _png_chunk(b"IEND", b"")


# --- baseline JPEG -----------------------------------------------------------------------------
# ITU T.81 Annex K: the example quantisation tables and the standard Huffman tables. One DC and
# one AC Huffman table (the luminance ones) serve all three components: they hold every symbol.

_ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
    20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
    59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
)  # fmt: skip
_Q_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69,
    56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81,
    104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_Q_CHROMA = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99,
    99, 47, 66, 99, 99, 99, 99, 99, 99, *([99] * 32),
)  # fmt: skip
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
_AC_BITS = (0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D)
_AC_VALUES = (
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61,
    0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52,
    0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25,
    0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45,
    0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64,
    0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83,
    0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
    0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6,
    0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3,
    0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8,
    0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
)  # fmt: skip


def _huffman_codes(bits: tuple[int, ...], values: tuple[int, ...]) -> dict[int, tuple[int, int]]:
    """Return symbol -> (code, length) for a table given as BITS/HUFFVAL (T.81 Annex C)."""
    codes: dict[int, tuple[int, int]] = {}
    code, k = 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


class _BitWriter:
    """Writes the entropy-coded bits of a JPEG scan, with 0xFF byte stuffing."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.count = 0

    def write(self, value: int, length: int) -> None:
        self.acc = (self.acc << length) | (value & ((1 << length) - 1))
        self.count += length
        while self.count >= 8:
            self.count -= 8
            byte = (self.acc >> self.count) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0)  # byte stuffing
        self.acc &= (1 << self.count) - 1

    def flush(self) -> bytes:
        if self.count:
            self.write((1 << (8 - self.count)) - 1, 8 - self.count)  # pad with 1-bits
        return bytes(self.out)


def _scaled(table: tuple[int, ...], quality: int) -> list[int]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (q * scale + 50) // 100)) for q in table]


_COS = [[math.cos((2 * x + 1) * u * math.pi / 16) * (math.sqrt(0.5) if u == 0 else 1.0) / 2
         for x in range(8)] for u in range(8)]  # fmt: skip


def _fdct(block: list[float]) -> list[float]:
    """Return the 2-D DCT-II of an 8x8 block (row-major), scaled as in T.81 A.3.3."""
    rows = [
        [sum(_COS[u][x] * block[y * 8 + x] for x in range(8)) for u in range(8)] for y in range(8)
    ]
    return [sum(_COS[v][y] * rows[y][u] for y in range(8)) for v in range(8) for u in range(8)]


def _magnitude(value: int) -> tuple[int, int]:
    """Return (size category, bits) of a coefficient, as T.81 F.1.2 codes it."""
    size = abs(value).bit_length()
    return size, value if value >= 0 else value + (1 << size) - 1


def jpeg(pixels: Pixels, *, quality: int = 85) -> bytes:
    """Encode RGB pixels as a baseline JFIF JPEG (4:4:4, standard Huffman tables)."""
    height, width = len(pixels), len(pixels[0])
    q_tables = (_scaled(_Q_LUMA, quality), _scaled(_Q_CHROMA, quality))
    dc_codes = _huffman_codes(_DC_BITS, _DC_VALUES)
    ac_codes = _huffman_codes(_AC_BITS, _AC_VALUES)
    planes: list[list[list[float]]] = [[], [], []]
    for row in pixels:
        ys, cbs, crs = [], [], []
        for r, g, b in row:
            ys.append(0.299 * r + 0.587 * g + 0.114 * b - 128)
            cbs.append(-0.168736 * r - 0.331264 * g + 0.5 * b)
            crs.append(0.5 * r - 0.418688 * g - 0.081312 * b)
        planes[0].append(ys)
        planes[1].append(cbs)
        planes[2].append(crs)
    writer = _BitWriter()
    previous_dc = [0, 0, 0]
    for by in range(0, height, 8):
        for bx in range(0, width, 8):
            for component in range(3):
                plane = planes[component]
                block = [
                    plane[min(by + y, height - 1)][min(bx + x, width - 1)]
                    for y in range(8)
                    for x in range(8)
                ]
                table = q_tables[0 if component == 0 else 1]
                coefficients = _fdct(block)
                quantised = [round(coefficients[_ZIGZAG[i]] / table[i]) for i in range(64)]
                diff = quantised[0] - previous_dc[component]
                previous_dc[component] = quantised[0]
                size, bits = _magnitude(diff)
                writer.write(*dc_codes[size])
                if size:
                    writer.write(bits, size)
                run = 0
                for value in quantised[1:]:
                    if value == 0:
                        run += 1
                        continue
                    while run > 15:
                        writer.write(*ac_codes[0xF0])
                        run -= 16
                    size, bits = _magnitude(value)
                    writer.write(*ac_codes[(run << 4) | size])
                    writer.write(bits, size)
                    run = 0
                if run:
                    writer.write(*ac_codes[0x00])
    scan = writer.flush()

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload

    out = b"\xff\xd8"
    out += segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    for index, table in enumerate(q_tables):
        out += segment(0xDB, bytes([index]) + bytes(table))
    out += segment(
        0xC0, struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    )
    out += segment(0xC4, b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALUES))
    out += segment(0xC4, b"\x10" + bytes(_AC_BITS) + bytes(_AC_VALUES))
    out += segment(0xDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00")
    return out + scan + b"\xff\xd9"


# --- cached variants handed out by the generator -------------------------------------------------

WOUND_STAGES = 4


@cache
def wound_photo_png(stage: int) -> bytes:
    """Return the PNG of a wound photo at healing ``stage`` (0 = fresh … 3 = nearly healed)."""
    return png(wound_pixels(stage), title="Foto af sår")


@cache
def wound_photo_jpeg(stage: int) -> bytes:
    """Return the JPEG of a wound photo at healing ``stage`` (0 = fresh … 3 = nearly healed)."""
    return jpeg(wound_pixels(stage))


@cache
def ecg_scan_png() -> bytes:
    """Return the PNG of a scanned ECG strip."""
    return png(ecg_pixels(), title="Scannet EKG")
