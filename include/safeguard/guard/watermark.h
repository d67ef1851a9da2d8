// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The provenance watermark of the generation guard (docs/watermark.md). An AI
// image service marks every image it is allowed to output with the id of the
// generation that made it; `safeguard guard trace IMAGE` later recovers that
// id from a copy found elsewhere, so the copy can be tied to the request, the
// account and the guard's decision.
//
// The mark is hard to see (PSNR 41.5 dB or more on every shared photo; in
// flat areas such as clear sky a faint mottling shows at 100% zoom beside the
// original) and lives in the luma of a fixed 256x256 resampling of the image,
// so it does not depend on the image's size: a copy that was resized,
// re-encoded as JPEG, made lighter or darker, or cropped in the common ways
// still carries it (docs/watermark.md has the measured survival rates, and
// what it does not survive). The payload is the 64-bit
// generation id and a 32-bit HMAC-SHA256 tag of it under the service's secret
// key; TraceWatermark reports a mark only when the tag verifies, so an
// unmarked image, or one marked under another key, yields found == false
// except with probability at most kWatermarkMaxCandidates * 2^-32 per image.
//
// This is provenance, not security: whoever holds the key can mark any image
// with any id, and anyone can destroy the mark without the key (a rotation
// of a degree or an uneven crop already does, as do strong blur and noise).
//
// Example:
//   WatermarkKey key;
//   Status s = ParseWatermarkKey(hex_from_config, &key);
//   media::Image marked;
//   if (s.ok()) s = EmbedWatermark(generated, generation_id, key, &marked);
//   ...
//   WatermarkTrace trace;
//   s = TraceWatermark(suspect, key, &trace);
//   if (s.ok() && trace.found) { /* trace.generation_id made this image */ }
//
// Every function here is deterministic and thread-safe: no global state, no
// randomness beyond what the key derives.

#ifndef SAFEGUARD_GUARD_WATERMARK_H_
#define SAFEGUARD_GUARD_WATERMARK_H_

#include <array>
#include <cstdint>
#include <string_view>

#include "safeguard/common/status.h"
#include "safeguard/media/image.h"

namespace safeguard::guard {

/// The service's secret watermark key: 32 random bytes. Whoever holds it can
/// both read and write marks, so keep it like a signing key and use one per
/// service (marks made under one key are invisible under another).
struct WatermarkKey {
  std::array<uint8_t, 32> bytes{};
};

/// Parses 64 hexadecimal digits (either case, nothing else) into *key.
/// Returns kInvalidArgument, leaving *key unchanged, for anything else.
Status ParseWatermarkKey(std::string_view hex, WatermarkKey* key);

/// The smallest width and height EmbedWatermark accepts, in pixels. Smaller
/// images cannot carry the 96-bit payload reliably.
inline constexpr int kWatermarkMinSide = 128;

/// The most decoded payloads whose tag TraceWatermark checks for one image:
/// the image as it is, then the best few crop alignments. Each check of an
/// unmarked image passes with probability 2^-32, so a false find has
/// probability at most kWatermarkMaxCandidates * 2^-32 (about 9.3e-10) per
/// traced image, however many alignments were looked at to rank them.
inline constexpr int kWatermarkMaxCandidates = 4;

/// What TraceWatermark recovered.
struct WatermarkTrace {
  /// True when a payload whose HMAC tag verifies under the key was read.
  bool found = false;
  /// The generation id embedded; 0 when !found.
  uint64_t generation_id = 0;
  /// Of the watermark's embedded samples read at the best alignment, the
  /// fraction that agree with the payload read there: about 0.5 to 0.6 for an
  /// unmarked image, 1.0 for a freshly marked one, lower after attacks. Set
  /// whether or not anything was found.
  double confidence = 0;
  /// How many candidate payloads had their tag checked (0 ..
  /// kWatermarkMaxCandidates; 0 when the image is flat or nearly all clipped,
  /// so there was nothing to read); the false-find probability for this call
  /// is at most tags_checked * 2^-32.
  int tags_checked = 0;
  /// The part of the original image this copy shows, as fractions of the
  /// original's width (left, right) and height (top, bottom): 0, 0, 1, 1
  /// when it was not cropped (resizing does not count). Meaningful only when
  /// found.
  double left = 0, top = 0, right = 1, bottom = 1;
};

/// Marks `in` (grey or RGB) with `generation_id` under `key` and stores the
/// marked image, of the same size, channels and format, in *out (which may
/// be `&in`). Colour images are marked in the luma (Y of YCbCr) only: the
/// same change is added to R, G and B, so Cb and Cr stay as they were except
/// where a channel clips at 0 or 255. The result is read back before
/// returning: OK means TraceWatermark(*out, key) finds `generation_id`.
/// Returns kInvalidArgument, leaving *out untouched, for an empty or
/// malformed image, for one narrower or shorter than kWatermarkMinSide pixels
/// (the message names the minimum), and for one whose mark does not read back
/// (not seen on any shared photo, nor on flat grey, black or white images).
/// Costs about three passes over the pixels. Thread-safe.
Status EmbedWatermark(const media::Image& in, uint64_t generation_id, const WatermarkKey& key,
                      media::Image* out);

/// Looks for a mark made under `key` in `image` and stores the result in
/// *out. Not finding a mark is not an error: the status is OK and
/// out->found is false. Reads the image as it is (which covers any resize)
/// and stops there if the tag verifies; otherwise scores a few hundred crop
/// alignments (docs/watermark.md) and checks the best three, so a trace that
/// finds nothing costs one pass over the pixels plus a fixed search (about
/// 90 ms on one core of the bench machine). Returns kInvalidArgument for an
/// empty or malformed image; images smaller than kWatermarkMinSide are traced
/// anyway (a downscaled copy may still carry the mark). Thread-safe.
Status TraceWatermark(const media::Image& image, const WatermarkKey& key, WatermarkTrace* out);

}  // namespace safeguard::guard

#endif  // SAFEGUARD_GUARD_WATERMARK_H_
