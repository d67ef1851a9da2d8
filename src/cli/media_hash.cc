// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "media_hash.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "safeguard/hash/digest.h"

namespace safeguard::cli {
namespace {

// The first bytes of a file, enough for every image signature.
Status ReadHead(const std::string& path, std::vector<uint8_t>* head) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    if (errno == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::IoError(path + ": " + std::strerror(errno));
  }
  head->resize(64);
  head->resize(std::fread(head->data(), 1, head->size(), f));
  std::fclose(f);
  return Status::Ok();
}

Status WriteFile(const std::string& path, std::string_view bytes) {
  // Write beside, then rename: a reader never sees half a file.
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  std::error_code ec;
  if (!out) return Status::IoError("cannot write " + tmp);
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IoError("cannot write " + path + ": " + ec.message());
  return Status::Ok();
}

std::string Stem(const std::string& path) { return std::filesystem::path(path).stem().string(); }

}  // namespace

Status HashMedia(const std::string& path, hash::ImageHasher* hasher,
                 const video::VideoHashOptions& video_options, MediaHashes* out) {
  std::vector<uint8_t> head;
  Status s = ReadHead(path, &head);
  if (!s.ok()) return s;
  out->is_video = !head.empty() && !video::LooksLikeImage(head);
  if (!out->is_video) return hasher->HashFile(path, &out->image);
  s = video::HashVideo(video::VideoInput::File(path), video_options, &out->video);
  if (s.code() == StatusCode::kUnsupportedFormat) {
    // FFmpeg's own reason ("Invalid data found when processing input") adds
    // nothing for a file that is neither.
    return Status::UnsupportedFormat(path + ": neither an image Safeguard decodes nor a video FFmpeg reads");
  }
  return s;
}

Status AddVideoJson(const std::string& path, const video::VideoHashes& h, const VideoOutputs& outputs,
                    Json* j) {
  Json& o = *j;
  o["media"] = "video";
  o["md5"] = hash::ToHex(h.md5);
  o["sha256"] = hash::ToHex(h.sha256);
  o["bytes"] = h.file_bytes;
  o["width"] = h.info.width;
  o["height"] = h.info.height;
  o["duration"] = std::round(h.info.duration_seconds * 1000) / 1000;
  o["frame_rate"] = std::round(h.info.frame_rate * 1000) / 1000;
  o["codec"] = h.info.codec;
  if (!h.vpdq.empty() || h.info.frames_output > 0) {
    int quality_sum = 0;
    for (const video::VpdqFrame& f : h.vpdq) quality_sum += f.quality;
    Json v;
    v["frames"] = h.vpdq.size();
    v["matchable"] = video::VpdqMatchableHashes(h.vpdq).size();
    v["mean_quality"] = h.vpdq.empty() ? 0 : quality_sum / static_cast<int>(h.vpdq.size());
    if (!outputs.vpdq_dir.empty()) {
      const std::string file = (std::filesystem::path(outputs.vpdq_dir) / (Stem(path) + ".vpdq")).string();
      Status s = WriteFile(file, video::VpdqToText(h.vpdq));
      if (!s.ok()) return s;
      v["file"] = file;
    }
    o["vpdq"] = std::move(v);
  }
  if (h.tmk) {
    const std::string bytes = h.tmk->Serialize();
    Json t;
    t["frames"] = h.tmk->frame_count;
    if (!outputs.tmk_dir.empty()) {
      const std::string file = (std::filesystem::path(outputs.tmk_dir) / (Stem(path) + ".tmk")).string();
      Status s = WriteFile(file, bytes);
      if (!s.ok()) return s;
      t["file"] = file;
    }
    if (outputs.tmk_base64) t["base64"] = Base64(bytes);
    o["tmk"] = std::move(t);
  }
  return Status::Ok();
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace safeguard::cli
