// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// ImageHasher turns image files (or bytes, or decoded pixels) into the
// signals Safeguard matches on: PDQ hash and quality, optionally the eight
// dihedral PDQ hashes, and the MD5 and SHA-256 of the bytes.
//
// Exact mode (the default) reproduces the PDQ reference bit for bit: full
// decode, nearest-neighbour resize to 512x512 when larger, then PDQ. Fast
// mode decodes JPEGs at reduced resolution (DCT scaling, luma only) and is
// close to, not identical with, the exact hash (docs/pdq.md has the figures).
//
// An ImageHasher owns reusable buffers and is NOT thread-safe: use one per
// worker thread. Memory per hasher is bounded (a few MiB plus the file being
// hashed), whatever the image size.

#ifndef SAFEGUARD_HASH_IMAGE_HASHER_H_
#define SAFEGUARD_HASH_IMAGE_HASHER_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "safeguard/common/status.h"
#include "safeguard/hash/digest.h"
#include "safeguard/hash/pdq.h"
#include "safeguard/media/decode.h"
#include "safeguard/media/image.h"

namespace safeguard::hash {

/// What to compute and what to accept.
struct HashOptions {
  media::DecodeLimits limits;
  /// Also compute the eight dihedral hashes.
  bool dihedral = false;
  /// Reduced-resolution decoding for throughput (not bit-exact).
  bool fast = false;
};

/// A PDQ result.
struct PdqResult {
  pdq::Hash256 hash;
  /// 0..100; hashes below pdq::kMinMatchQuality are not used for matching.
  int quality = 0;
  /// Valid only when HashOptions::dihedral was set; Dihedral order.
  pdq::Hash256 dihedral[8];
};

/// Everything computed for one file.
struct FileHashes {
  PdqResult pdq;
  Md5Digest md5{};
  Sha256Digest sha256{};
  /// Size of the encoded image.
  int width = 0;
  int height = 0;
  media::ImageFormat format = media::ImageFormat::kUnknown;
};

class ImageHasher {
 public:
  explicit ImageHasher(const HashOptions& options = HashOptions());

  ImageHasher(const ImageHasher&) = delete;
  ImageHasher& operator=(const ImageHasher&) = delete;

  /// Reads, decodes and hashes the file at `path`. Errors (not found, too
  /// large, corrupt, unsupported) come back as the Status; *out is then
  /// unspecified.
  Status HashFile(const std::string& path, FileHashes* out);

  /// As HashFile, for bytes already in memory.
  Status HashBytes(std::span<const uint8_t> bytes, FileHashes* out);

  /// Computes PDQ for decoded pixels, applying the reference's 512x512
  /// nearest-neighbour resize if the image is larger. Returns
  /// kInvalidArgument for an empty or malformed Image.
  Status HashPixels(const media::Image& image, PdqResult* out);

  /// The options this hasher was built with.
  const HashOptions& options() const { return options_; }

 private:
  HashOptions options_;
  media::DecodeOptions decode_options_;
  std::vector<uint8_t> file_;
  std::vector<uint8_t> sampled_;
  std::vector<float> luma_;
  std::vector<float> scratch_;
};

}  // namespace safeguard::hash

#endif  // SAFEGUARD_HASH_IMAGE_HASHER_H_
