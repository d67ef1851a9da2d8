// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "multipart.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace safeguard::server {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The value of parameter `name` in a header value like
// `form-data; name="file"; filename="a.jpg"` (quoted or not), or "".
std::string_view Param(std::string_view header, std::string_view name) {
  const std::string lower = Lower(header);
  size_t pos = 0;
  while ((pos = lower.find(name, pos)) != std::string::npos) {
    const bool starts = pos == 0 || lower[pos - 1] == ';' || lower[pos - 1] == ' ' || lower[pos - 1] == '\t';
    const size_t eq = pos + name.size();
    if (starts && eq < lower.size() && lower[eq] == '=') {
      std::string_view v = header.substr(eq + 1);
      if (!v.empty() && v[0] == '"') {
        const size_t end = v.find('"', 1);
        return end == std::string_view::npos ? std::string_view() : v.substr(1, end - 1);
      }
      return v.substr(0, v.find_first_of("; \t"));
    }
    pos = eq;
  }
  return {};
}

}  // namespace

Status ExtractMultipartFile(std::string_view content_type, std::string_view body, std::string_view* file) {
  const std::string_view boundary = Param(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 200) {
    return Status::InvalidArgument("multipart upload without a valid boundary in its Content-Type");
  }
  const std::string delimiter = "--" + std::string(boundary);
  size_t pos;
  if (body.substr(0, delimiter.size()) == delimiter) {
    pos = 0;
  } else {
    pos = body.find("\r\n" + delimiter);
    if (pos == std::string_view::npos)
      return Status::InvalidArgument("multipart upload without its boundary");
    pos += 2;
  }
  std::string_view first, with_filename, named_file;
  bool found_any = false;
  for (;;) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") break;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n") return Status::InvalidArgument("malformed multipart delimiter line");
    pos += 2;
    const size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos)
      return Status::InvalidArgument("multipart part without a body");
    const std::string_view headers = body.substr(pos, headers_end - pos);
    const size_t content_start = headers_end + 4;
    const size_t next = body.find("\r\n" + delimiter, content_start);
    if (next == std::string_view::npos) {
      return Status::InvalidArgument("multipart upload is truncated (no closing boundary)");
    }
    const std::string_view content = body.substr(content_start, next - content_start);
    std::string_view disposition;
    size_t line_start = 0;
    while (line_start <= headers.size()) {
      const size_t eol = headers.find("\r\n", line_start);
      const std::string_view line =
          headers.substr(line_start, eol == std::string_view::npos ? headers.npos : eol - line_start);
      if (Lower(line.substr(0, 20)) == "content-disposition:") disposition = line.substr(20);
      if (eol == std::string_view::npos) break;
      line_start = eol + 2;
    }
    if (!found_any) first = content;
    found_any = true;
    if (named_file.empty() && Param(disposition, "name") == "file") named_file = content;
    if (with_filename.empty() && !Param(disposition, "filename").empty()) with_filename = content;
    pos = next + 2;
  }
  if (!found_any) return Status::InvalidArgument("multipart upload without any part");
  *file = !named_file.empty() ? named_file : !with_filename.empty() ? with_filename : first;
  return Status::Ok();
}

}  // namespace safeguard::server
