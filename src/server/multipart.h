// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The one part of a multipart/form-data upload (RFC 7578) that holds the
// file: the part named "file", else the first part with a filename, else the
// first part. Views into the body; nothing is copied.

#ifndef SAFEGUARD_SRC_SERVER_MULTIPART_H_
#define SAFEGUARD_SRC_SERVER_MULTIPART_H_

#include <string_view>

#include "safeguard/common/status.h"

namespace safeguard::server {

/// Stores in *file the file part of `body` given its Content-Type header
/// value (multipart/form-data; boundary=...). Returns kInvalidArgument, with
/// what is wrong, for a missing or malformed boundary, a body without a
/// closing delimiter, or a part without a header/body separator.
Status ExtractMultipartFile(std::string_view content_type, std::string_view body, std::string_view* file);

}  // namespace safeguard::server

#endif  // SAFEGUARD_SRC_SERVER_MULTIPART_H_
