// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// HEIF/HEIC and AVIF through libheif (1.15 on Debian 12, with its HEVC
// decoder libde265 and AV1 decoders dav1d/aom built in). The primary image is
// decoded to interleaved 8-bit RGB with the file's transformations (rotation,
// mirroring, crop) applied: unlike EXIF orientation in JPEG these are part of
// the image's definition, and ImageMagick (so the PDQ reference) applies them
// too. Alpha and higher bit depths are dropped or scaled to 8 bits by libheif.
//
// libheif decodes a whole image at once; its declared size is checked before
// decoding, and libheif's own per-side limit is set from ours.

#include <libheif/heif.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "decoders.h"

namespace safeguard::media {
namespace {

// heif_init registers the built-in codecs; it is reference counted and not
// meant to race, so it runs once and is never undone (the process keeps the
// codecs until exit).
void InitLibheifOnce() {
  static std::once_flag once;
  std::call_once(once, [] { heif_init(nullptr); });
}

// Names the codec a file most likely needs, for error messages.
const char* LikelyCodec(Bytes bytes) {
  const int len = static_cast<int>(std::min<size_t>(bytes.size(), 4096));
  if (heif_has_compatible_brand(bytes.data(), len, "avif") == 1 ||
      heif_has_compatible_brand(bytes.data(), len, "avis") == 1) {
    return "AV1";
  }
  return "HEVC";
}

Status FromHeifError(const heif_error& err, Bytes bytes, const char* what) {
  std::string detail = err.message != nullptr ? err.message : "no detail";
  // libheif's messages can end in a newline.
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
  if (err.subcode == heif_suberror_End_of_data) {
    return Status::Corrupt(std::string("HEIF data ends early while ") + what +
                           " (truncated file): " + detail);
  }
  if (err.subcode == heif_suberror_Security_limit_exceeded) {
    return Status::TooLarge(std::string("HEIF exceeds a size limit while ") + what + ": " + detail);
  }
  if (err.subcode == heif_suberror_Unsupported_codec) {
    const char* codec = LikelyCodec(bytes);
    return Status::UnsupportedFormat(std::string("HEIF image needs a codec this libheif cannot ") +
                                     "decode (no " + codec + " decoder plugin installed): " + detail);
  }
  switch (err.code) {
    case heif_error_Unsupported_filetype:
    case heif_error_Unsupported_feature:
      return Status::UnsupportedFormat(std::string("HEIF variant not supported while ") + what + ": " +
                                       detail);
    case heif_error_Memory_allocation_error:
      return Status::TooLarge(std::string("HEIF: out of memory while ") + what + ": " + detail);
    default:
      return Status::Corrupt(std::string("HEIF is damaged while ") + what + ": " + detail);
  }
}

struct ContextDeleter {
  void operator()(heif_context* p) const { heif_context_free(p); }
};
struct HandleDeleter {
  void operator()(heif_image_handle* p) const { heif_image_handle_release(p); }
};
struct ImageDeleter {
  void operator()(heif_image* p) const { heif_image_release(p); }
};
struct OptionsDeleter {
  void operator()(heif_decoding_options* p) const { heif_decoding_options_free(p); }
};

// ---- derived-image references -------------------------------------------------
//
// libheif 1.15 follows references recursively and without a check for
// cycles: 'dimg' (grid, overlay and identity images decode their inputs) and
// 'auxl' (an alpha plane is decoded with its master image). An image derived
// from itself recurses until the stack overflows (found by fuzz_decode_heif,
// twice: 2 KB files). Before libheif sees a file we read its 'iref' box and
// refuse cycles and chains deeper than any real file has.
//
// The edges are read the way libheif reads them, and also the way the
// format defines them, and the union is checked: libheif reads the
// references inside 'iref' one after another and ignores each one's declared
// size, so a reference box whose size is wrong (the second fuzzer find: a
// 'dimg' of declared size 6) is seen by libheif but not by a reader that
// trusts the sizes. For a well-formed file both readings agree.

constexpr int kMaxDerivationDepth = 8;

uint32_t ReadU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Calls fn(type, payload, payload_size) for each box in [p, end); stops at
// the first box whose size does not fit (libheif reports those itself).
template <typename Fn>
void ForEachBox(const uint8_t* p, const uint8_t* end, Fn&& fn) {
  while (end - p >= 8) {
    uint64_t size = ReadU32(p);
    size_t header = 8;
    if (size == 1) {
      if (end - p < 16) return;
      size = (uint64_t{ReadU32(p + 8)} << 32) | ReadU32(p + 12);
      header = 16;
    } else if (size == 0) {
      size = static_cast<uint64_t>(end - p);
    }
    if (size < header || size > static_cast<uint64_t>(end - p)) return;
    fn(std::string(reinterpret_cast<const char*>(p + 4), 4), p + header, static_cast<size_t>(size - header));
    p += size;
  }
}

using Edges = std::map<uint32_t, std::vector<uint32_t>>;

// Adds the edge a decode follows for one reference: a 'dimg' from a derived
// image to each input, an 'auxl' from the master image (the target) to the
// auxiliary image (the source), which libheif decodes as its alpha.
void AddReference(const std::string& type, uint32_t from, const std::vector<uint32_t>& to, Edges* edges) {
  if (type == "dimg") {
    auto& out = (*edges)[from];
    out.insert(out.end(), to.begin(), to.end());
  } else if (type == "auxl") {
    for (uint32_t master : to) (*edges)[master].push_back(from);
  }
}

// Reads one reference's item ids: from, a 16-bit count, then the targets,
// each `id_bytes` wide; stops where the data ends.
size_t ReadReferenceIds(const uint8_t* r, size_t k, int id_bytes, uint32_t* from, std::vector<uint32_t>* to) {
  auto id = [&](size_t at) -> uint32_t {
    return id_bytes == 2 ? (uint32_t{r[at]} << 8) | r[at + 1] : ReadU32(r + at);
  };
  const size_t ids = static_cast<size_t>(id_bytes);
  if (k < ids + 2) return k;
  *from = id(0);
  const size_t count = (size_t{r[ids]} << 8) | r[ids + 1];
  size_t at = ids + 2;
  for (size_t i = 0; i < count && at + ids <= k; ++i, at += ids) to->push_back(id(at));
  return at;
}

// The iref payload (after its version and flags) read as libheif 1.15 reads
// it: reference headers and ids back to back, declared sizes ignored.
void ReferencesAsLibheifReadsThem(const uint8_t* q, size_t m, int id_bytes, Edges* edges) {
  size_t at = 0;
  while (m - at >= 8) {
    const uint32_t size = ReadU32(q + at);
    std::string type(reinterpret_cast<const char*>(q + at + 4), 4);
    at += 8;
    if (size == 1) {
      if (m - at < 8) return;
      at += 8;
    }
    if (type == "uuid") {
      if (m - at < 16) return;
      at += 16;
    }
    uint32_t from = 0;
    std::vector<uint32_t> to;
    at += ReadReferenceIds(q + at, m - at, id_bytes, &from, &to);
    AddReference(type, from, to, edges);
  }
}

// Collects meta/iref's decode edges, read both ways (see above).
void DerivationEdges(Bytes bytes, Edges* edges) {
  ForEachBox(bytes.data(), bytes.data() + bytes.size(),
             [&](const std::string& type, const uint8_t* p, size_t n) {
               if (type != "meta" || n < 4) return;
               ForEachBox(p + 4, p + n, [&](const std::string& child, const uint8_t* q, size_t m) {
                 if (child != "iref" || m < 4) return;
                 const int id_bytes = q[0] == 0 ? 2 : 4;  // version 0: 16-bit item ids
                 ReferencesAsLibheifReadsThem(q + 4, m - 4, id_bytes, edges);
                 ForEachBox(q + 4, q + m, [&](const std::string& ref, const uint8_t* r, size_t k) {
                   uint32_t from = 0;
                   std::vector<uint32_t> to;
                   ReadReferenceIds(r, k, id_bytes, &from, &to);
                   AddReference(ref, from, to, edges);
                 });
               });
             });
}

// Returns the length of the longest chain of references from `item`, or -1
// for a cycle or a chain longer than kMaxDerivationDepth. Memoised in
// *height, so a wide grid of grids costs one visit per item, not one per
// path; recursion is bounded by the depth limit.
int DerivationHeight(const Edges& edges, uint32_t item, int depth, std::map<uint32_t, int>* height) {
  auto [it, fresh] = height->emplace(item, -2);  // -2: on the current path
  if (!fresh) return it->second == -2 ? -1 : it->second;
  if (depth > kMaxDerivationDepth) return -1;
  int h = 0;
  auto e = edges.find(item);
  if (e != edges.end()) {
    for (uint32_t next : e->second) {
      const int child = DerivationHeight(edges, next, depth + 1, height);
      if (child < 0) return -1;
      h = std::max(h, child + 1);
    }
  }
  if (h > kMaxDerivationDepth) return -1;
  (*height)[item] = h;
  return h;
}

Status CheckDerivations(Bytes bytes) {
  Edges edges;
  DerivationEdges(bytes, &edges);
  std::map<uint32_t, int> height;
  for (const auto& [from, to] : edges) {
    if (DerivationHeight(edges, from, 0, &height) < 0) {
      return Status::Corrupt("HEIF: derived images reference each other in a cycle, or nest deeper than " +
                             std::to_string(kMaxDerivationDepth) + " levels (damaged or hostile file)");
    }
  }
  return Status::Ok();
}

Status Decode(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder) {
  Status checked = CheckDerivations(bytes);
  if (!checked.ok()) return checked;
  std::unique_ptr<heif_context, ContextDeleter> ctx(heif_context_alloc());
  if (!ctx) return Status::Internal("HEIF: cannot allocate a libheif context");
  const int side_limit = static_cast<int>(std::min<uint32_t>(options.limits.max_side, INT_MAX));
  heif_context_set_maximum_image_size_limit(ctx.get(), side_limit);
  // Grid tiles are decoded on the calling thread: callers already decode
  // many images in parallel, one per thread.
  heif_context_set_max_decoding_threads(ctx.get(), 0);
  heif_error err = heif_context_read_from_memory_without_copy(ctx.get(), bytes.data(), bytes.size(), nullptr);
  if (err.code != heif_error_Ok) return FromHeifError(err, bytes, "reading the container");

  heif_image_handle* raw_handle = nullptr;
  err = heif_context_get_primary_image_handle(ctx.get(), &raw_handle);
  std::unique_ptr<heif_image_handle, HandleDeleter> handle(raw_handle);
  if (err.code != heif_error_Ok || !handle) {
    return FromHeifError(err, bytes, "finding the primary image");
  }
  const int declared_w = heif_image_handle_get_width(handle.get());
  const int declared_h = heif_image_handle_get_height(handle.get());
  Status s = builder->CheckSize(static_cast<uint64_t>(std::max(declared_w, 0)),
                                static_cast<uint64_t>(std::max(declared_h, 0)), "HEIF");
  if (!s.ok()) return s;

  std::unique_ptr<heif_decoding_options, OptionsDeleter> decode_options(heif_decoding_options_alloc());
  if (!decode_options) return Status::Internal("HEIF: cannot allocate libheif decoding options");
  decode_options->convert_hdr_to_8bit = 1;
  heif_image* raw_image = nullptr;
  err = heif_decode_image(handle.get(), &raw_image, heif_colorspace_RGB, heif_chroma_interleaved_RGB,
                          decode_options.get());
  std::unique_ptr<heif_image, ImageDeleter> image(raw_image);
  if (err.code != heif_error_Ok || !image) return FromHeifError(err, bytes, "decoding the image");

  const int width = heif_image_get_width(image.get(), heif_channel_interleaved);
  const int height = heif_image_get_height(image.get(), heif_channel_interleaved);
  int stride = 0;
  const uint8_t* plane = heif_image_get_plane_readonly(image.get(), heif_channel_interleaved, &stride);
  if (plane == nullptr || width <= 0 || height <= 0 || stride < width * 3 ||
      heif_image_get_bits_per_pixel_range(image.get(), heif_channel_interleaved) != 8) {
    return Status::Internal("HEIF: libheif returned no 8-bit interleaved RGB plane");
  }
  s = builder->Begin(width, height, RowLayout::kRgb, "HEIF");
  if (!s.ok()) return s;
  for (int y = 0; y < height; ++y) {
    builder->AddRow(y, plane + static_cast<size_t>(y) * static_cast<size_t>(stride));
  }
  return Status::Ok();
}

}  // namespace

Status DecodeHeif(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder) {
  InitLibheifOnce();
  try {
    return Decode(bytes, options, builder);
  } catch (const std::bad_alloc&) {
    return Status::TooLarge("HEIF: out of memory for the decoded image");
  }
}

}  // namespace safeguard::media
