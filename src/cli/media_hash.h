// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Hashing a file that may be an image or a video, for `safeguard hash`,
// `match` and `compare`: images go to the image hasher, everything else to
// the video hasher (judged from the file's first bytes, never its name).

#ifndef SAFEGUARD_SRC_CLI_MEDIA_HASH_H_
#define SAFEGUARD_SRC_CLI_MEDIA_HASH_H_

#include <string>

#include "json_output.h"
#include "safeguard/hash/image_hasher.h"
#include "safeguard/video/video_hasher.h"

namespace safeguard::cli {

/// The hashes of one file: an image's or a video's.
struct MediaHashes {
  bool is_video = false;
  hash::FileHashes image;    ///< When !is_video.
  video::VideoHashes video;  ///< When is_video.
};

/// Hashes the file at `path` with `hasher` (images) or `video_options`
/// (videos). Returns the hasher's errors; a file that is neither gives
/// kUnsupportedFormat saying so.
Status HashMedia(const std::string& path, hash::ImageHasher* hasher,
                 const video::VideoHashOptions& video_options, MediaHashes* out);

/// Where a video's hashes are written besides the JSON line.
struct VideoOutputs {
  std::string tmk_dir;      ///< Write NAME.tmk here (NAME: the file name without its extension).
  std::string vpdq_dir;     ///< Write NAME.vpdq (the reference's text form) here.
  bool tmk_base64 = false;  ///< Embed the .tmk bytes in the JSON line.
};

/// Adds the fields of a video record to `j` (md5, sha256, size, duration,
/// vpdq summary, tmk) and writes the files `outputs` asks for. Returns
/// kIoError when a file cannot be written.
Status AddVideoJson(const std::string& path, const video::VideoHashes& h, const VideoOutputs& outputs,
                    Json* j);

/// Returns `bytes` in standard base64 with padding.
std::string Base64(std::string_view bytes);

}  // namespace safeguard::cli

#endif  // SAFEGUARD_SRC_CLI_MEDIA_HASH_H_
