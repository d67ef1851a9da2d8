// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// GIF through giflib 5.2's low-level API. DGifSlurp would decode every frame
// of an animation into memory; we stop at the first image descriptor and
// decode only that frame, at its own size (Image.Width x Image.Height), not
// composited onto the logical screen, as ImageMagick's `file.gif[0]` does.
//
// The transparent index is ignored: its palette colour is used like any
// other, since alpha never counts. An index beyond the colour map (possible
// when the LZW code size exceeds the map) reads entry 0, as ImageMagick does.

#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "decoders.h"

namespace safeguard::media {
namespace {

struct ReadState {
  Bytes bytes;
  size_t pos;
};

// giflib treats a short read as an error (D_GIF_ERR_READ_FAILED), so
// returning fewer bytes than asked is how truncation is reported.
int ReadFromMemory(GifFileType* gif, GifByteType* out, int length) {
  auto* state = static_cast<ReadState*>(gif->UserData);
  if (length <= 0) return 0;
  const size_t n = std::min(static_cast<size_t>(length), state->bytes.size() - state->pos);
  std::memcpy(out, state->bytes.data() + state->pos, n);
  state->pos += n;
  return static_cast<int>(n);
}

Status GifError(int code, const char* what) {
  if (code == D_GIF_ERR_READ_FAILED || code == D_GIF_ERR_EOF_TOO_SOON) {
    return Status::Corrupt(std::string("GIF data ends early while ") + what + " (truncated file)");
  }
  if (code == D_GIF_ERR_NOT_ENOUGH_MEM) {
    return Status::TooLarge(std::string("GIF: out of memory while ") + what);
  }
  const char* text = GifErrorString(code);
  return Status::Corrupt(std::string("GIF is damaged while ") + what + ": " +
                         (text != nullptr ? text : "unknown giflib error"));
}

// Converts one row of colour indices to RGB through the colour map.
void IndicesToRgb(const GifByteType* indices, int width, const ColorMapObject& map, uint8_t* rgb) {
  for (int x = 0; x < width; ++x, rgb += 3) {
    const int i = indices[x] < map.ColorCount ? indices[x] : 0;
    const GifColorType& c = map.Colors[i];
    rgb[0] = c.Red;
    rgb[1] = c.Green;
    rgb[2] = c.Blue;
  }
}

// Skips one extension block and its sub-blocks.
bool SkipExtension(GifFileType* gif) {
  int code = 0;
  GifByteType* block = nullptr;
  if (DGifGetExtension(gif, &code, &block) == GIF_ERROR) return false;
  while (block != nullptr) {
    if (DGifGetExtensionNext(gif, &block) == GIF_ERROR) return false;
  }
  return true;
}

// Decodes the frame whose descriptor was just read.
Status DecodeFrame(GifFileType* gif, ImageBuilder* builder) {
  const GifImageDesc& desc = gif->Image;
  Status s = builder->CheckSize(static_cast<uint64_t>(std::max(desc.Width, 0)),
                                static_cast<uint64_t>(std::max(desc.Height, 0)), "GIF");
  if (!s.ok()) return s;
  const ColorMapObject* map = desc.ColorMap != nullptr ? desc.ColorMap : gif->SColorMap;
  if (map == nullptr || map->Colors == nullptr || map->ColorCount < 1) {
    return Status::Corrupt("GIF is damaged: the first image has no colour map (local or global)");
  }
  const int width = desc.Width;
  const int height = desc.Height;
  s = builder->Begin(width, height, RowLayout::kRgb, "GIF");
  if (!s.ok()) return s;

  std::vector<uint8_t> rgb(static_cast<size_t>(width) * 3);
  if (!desc.Interlace) {
    std::vector<GifByteType> line(static_cast<size_t>(width));
    for (int y = 0; y < height; ++y) {
      if (DGifGetLine(gif, line.data(), width) == GIF_ERROR) {
        return GifError(gif->Error, "decoding the first image");
      }
      IndicesToRgb(line.data(), width, *map, rgb.data());
      builder->AddRow(y, rgb.data());
    }
    return Status::Ok();
  }
  // Interlaced rows arrive in four passes (every 8th row from 0, every 8th
  // from 4, every 4th from 2, every 2nd from 1), so the frame is collected
  // whole before rows can go to the builder in order.
  static constexpr int kStart[4] = {0, 4, 2, 1};
  static constexpr int kStep[4] = {8, 8, 4, 2};
  std::vector<GifByteType> indices(static_cast<size_t>(width) * height);
  for (int pass = 0; pass < 4; ++pass) {
    for (int y = kStart[pass]; y < height; y += kStep[pass]) {
      if (DGifGetLine(gif, indices.data() + static_cast<size_t>(y) * width, width) == GIF_ERROR) {
        return GifError(gif->Error, "decoding the first image");
      }
    }
  }
  for (int y = 0; y < height; ++y) {
    IndicesToRgb(indices.data() + static_cast<size_t>(y) * width, width, *map, rgb.data());
    builder->AddRow(y, rgb.data());
  }
  return Status::Ok();
}

// Walks the records up to the first image and decodes it.
Status DecodeFirstImage(GifFileType* gif, ImageBuilder* builder) {
  for (;;) {
    GifRecordType type = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(gif, &type) == GIF_ERROR) {
      return GifError(gif->Error, "reading the record list");
    }
    switch (type) {
      case IMAGE_DESC_RECORD_TYPE:
        if (DGifGetImageDesc(gif) == GIF_ERROR) {
          return GifError(gif->Error, "reading the image descriptor");
        }
        return DecodeFrame(gif, builder);
      case EXTENSION_RECORD_TYPE:
        if (!SkipExtension(gif)) return GifError(gif->Error, "skipping an extension block");
        break;
      case TERMINATE_RECORD_TYPE:
        return Status::Corrupt("GIF contains no image (the trailer comes before any frame)");
      default:
        return Status::Corrupt("GIF is damaged: unknown record type");
    }
  }
}

}  // namespace

Status DecodeGif(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder) {
  ReadState state{bytes, 0};
  int error = 0;
  GifFileType* gif = DGifOpen(&state, &ReadFromMemory, &error);
  if (gif == nullptr) return GifError(error, "reading the screen descriptor");
  Status s;
  try {
    s = DecodeFirstImage(gif, builder);
  } catch (const std::bad_alloc&) {
    s = Status::TooLarge("GIF: out of memory for the decoded image");
  }
  DGifCloseFile(gif, &error);
  return s;
}

}  // namespace safeguard::media
