// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// Plain read(2) on a descriptor rather than an ifstream for files: one
// system call per MiB, no locale or sentry per call, and errno for the
// message when it fails.

#include "line_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <istream>

namespace safeguard::exchange::internal {
namespace {

constexpr size_t kChunkBytes = 1 << 20;
constexpr size_t kLongPrefixBytes = 256;

class FileSource final : public ByteSource {
 public:
  FileSource(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FileSource() override { ::close(fd_); }

  Status Read(char* buf, size_t capacity, size_t* got) override {
    while (true) {
      const ssize_t n = ::read(fd_, buf, capacity);
      if (n >= 0) {
        *got = static_cast<size_t>(n);
        return Status::Ok();
      }
      if (errno != EINTR) return Status::IoError("cannot read " + path_ + ": " + std::strerror(errno));
    }
  }

 private:
  int fd_;
  std::string path_;
};

class StreamSource final : public ByteSource {
 public:
  explicit StreamSource(std::istream& in) : in_(in) {}

  Status Read(char* buf, size_t capacity, size_t* got) override {
    if (in_.bad()) return Status::IoError("cannot read the hash list stream");
    if (in_.eof()) {
      *got = 0;
      return Status::Ok();
    }
    in_.read(buf, static_cast<std::streamsize>(capacity));
    *got = static_cast<size_t>(in_.gcount());
    if (in_.bad()) return Status::IoError("cannot read the hash list stream");
    return Status::Ok();
  }

 private:
  std::istream& in_;
};

class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string_view text) : text_(text) {}

  size_t SizeHint() const override { return text_.size() - pos_; }

  Status Read(char* buf, size_t capacity, size_t* got) override {
    const size_t n = std::min(capacity, text_.size() - pos_);
    if (n != 0) std::memcpy(buf, text_.data() + pos_, n);  // an empty view may have a null data()
    pos_ += n;
    *got = n;
    return Status::Ok();
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

Status OpenFileSource(const std::string& path, std::unique_ptr<ByteSource>* source) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound("hash list " + path + " does not exist");
    return Status::IoError("cannot open " + path + ": " + std::strerror(err));
  }
  struct stat st;
  // read(2) on a directory fails with EISDIR only on the first read; saying
  // so up front gives a clearer message.
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status::IoError("cannot read " + path + ": it is a directory");
  }
  *source = std::make_unique<FileSource>(fd, path);
  return Status::Ok();
}

std::unique_ptr<ByteSource> MakeStreamSource(std::istream& in) { return std::make_unique<StreamSource>(in); }

std::unique_ptr<ByteSource> MakeStringSource(std::string_view text) {
  return std::make_unique<StringSource>(text);
}

// A string of a few hundred bytes (a fuzz input, a small request body) gets
// a buffer of its size rather than a MiB: the whole input fits, with one
// byte spare so that the read that reports the end has room.
LineReader::LineReader(ByteSource* source, size_t max_line_bytes)
    : source_(source), max_line_bytes_(max_line_bytes), capacity_(max_line_bytes + 1 + kChunkBytes) {
  const size_t hint = source->SizeHint();
  if (hint < capacity_) capacity_ = hint + 1;
  buf_.reset(new char[capacity_]);
}

Status LineReader::Fill() {
  // Only the unfinished line (at most max_line_bytes_, or Next would have
  // given up on it) moves, so at least a chunk of space is free after it.
  if (begin_ > 0) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  size_t got = 0;
  Status s = source_->Read(buf_.get() + end_, capacity_ - end_, &got);
  if (!s.ok()) return s;
  if (got == 0) eof_ = true;
  end_ += got;
  return Status::Ok();
}

Status LineReader::Next(std::string_view* line, bool* too_long, bool* end) {
  *too_long = false;
  *end = false;
  *line = {};
  size_t scanned = 0;  // bytes after begin_ known to hold no '\n'
  while (true) {
    const char* start = buf_.get() + begin_;
    const auto* nl = static_cast<const char*>(std::memchr(start + scanned, '\n', end_ - begin_ - scanned));
    if (nl != nullptr || (eof_ && begin_ < end_)) {
      const size_t len = nl != nullptr ? static_cast<size_t>(nl - start) : end_ - begin_;
      ++line_number_;
      begin_ += len + (nl != nullptr ? 1 : 0);
      if (len > max_line_bytes_) {
        long_prefix_.assign(start, std::min(len, kLongPrefixBytes));
        *line = long_prefix_;
        *too_long = true;
      } else {
        *line = std::string_view(start, len);
      }
      return Status::Ok();
    }
    if (eof_) {
      *end = true;
      return Status::Ok();
    }
    scanned = end_ - begin_;
    if (scanned > max_line_bytes_) {
      // Keep a prefix for the error message and skip to the line break
      // without buffering the rest: a 4 GB line costs 4 GB of reading only.
      ++line_number_;
      long_prefix_.assign(start, std::min(scanned, kLongPrefixBytes));
      begin_ = end_;
      while (true) {
        Status s = Fill();
        if (!s.ok()) return s;
        const auto* found = static_cast<const char*>(std::memchr(buf_.get(), '\n', end_));
        if (found != nullptr) {
          begin_ = static_cast<size_t>(found - buf_.get()) + 1;
          break;
        }
        begin_ = end_;
        if (eof_) break;
      }
      *line = long_prefix_;
      *too_long = true;
      return Status::Ok();
    }
    Status s = Fill();
    if (!s.ok()) return s;
  }
}

}  // namespace safeguard::exchange::internal
