#!/usr/bin/env bash
# Regenerates the decoder test images in this folder from one benign photo
# (the PDQ test-vector "bridge", BSD licence, Meta Platforms) with Debian 12's
# ImageMagick 6.9.11 and Python 3. See README.md for what each file tests.
# Usage: tests/data/make-test-images.sh [SHARED_DIR]   (default /work/shared)
set -euo pipefail
shared="${1:-/work/shared}"
src="$shared/pdq-vectors/images/bridge-mods/square-128x128.jpg"
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Non-square on purpose, so a swapped width/height shows up in the tests.
convert "$src" -resize '64x48!' -strip "$tmp/base.png"
base="$tmp/base.png"

convert "$base" -strip PNG24:bridge.png
convert "$base" -strip -interlace PNG PNG24:bridge-interlaced.png
convert "$base" -strip -colors 64 PNG8:bridge-palette.png
# 16-bit samples whose low bytes are not copies of the high bytes (a plain
# -depth 16 would store v*257, for which scaling and truncating agree).
convert "$base" -strip -depth 16 -evaluate multiply 0.93 PNG48:bridge-16bit.png
# The same pixels rounded to 8 bits by ImageMagick ((v + 128) / 257).
convert bridge-16bit.png -strip -depth 8 PNG24:bridge-16bit-as-8bit.png

convert "$base" GIF:bridge.gif
convert "$base" -interlace GIF GIF:bridge-interlaced.gif
convert "$base" BMP3:bridge.bmp
convert "$base" -colors 200 -type Palette -compress none BMP3:bridge-8bit.bmp
# RLE8, which stb_image does not decode: the test expects kUnsupportedFormat.
convert "$base" -colors 200 -type Palette -compress rle BMP3:bridge-rle8.bmp
convert "$base" -compress lzw TIFF:bridge.tif
# RGBA with unassociated alpha at 50%: decoders must return the stored RGB,
# not RGB premultiplied by alpha.
convert "$base" -alpha set -channel A -evaluate set 50% +channel \
  -define tiff:alpha=unassociated -compress lzw TIFF:bridge-alpha.tif
convert "$base" -colorspace Gray PGM:bridge.pgm
convert "$base" PPM:bridge.ppm
convert "$base" -depth 16 -evaluate multiply 0.93 PPM:bridge16.ppm
convert "$base" -resize '16x12!' -compress none PPM:bridge-plain.ppm
convert "$base" -colorspace Gray -threshold 50% PBM:bridge.pbm
convert "$base" -colorspace Gray -threshold 50% -compress none PBM:bridge-plain.pbm
convert "$base" -quality 80 WEBP:bridge.webp
convert "$base" -define webp:lossless=true WEBP:bridge-lossless.webp
convert "$base" -quality 60 HEIC:bridge.heic
convert "$base" -quality 60 AVIF:bridge.avif

# A 4x1 16-bit grey PNG whose samples tell scaling from truncation:
# 0x00FF -> 1 (truncation: 0), 0xFF00 -> 254 (255), 0x12A0 -> 19 (18),
# 0x1290 -> 18 (18).
python3 - <<'PY'
import struct, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
ihdr = struct.pack(">IIBBBBB", 4, 1, 16, 0, 0, 0, 0)
row = b"\x00" + struct.pack(">4H", 0x00FF, 0xFF00, 0x12A0, 0x1290)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(row)) + chunk(b"IEND", b"")
open("grey16-scale.png", "wb").write(png)
PY
ls -l
