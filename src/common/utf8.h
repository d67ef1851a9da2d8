// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// UTF-8 validation shared by the blocks that refuse text which is not
// UTF-8 (the audit log, the bank store, the report builders). Internal: not
// part of the public headers.

#ifndef SAFEGUARD_COMMON_UTF8_H_
#define SAFEGUARD_COMMON_UTF8_H_

#include <string_view>

namespace safeguard {

/// True if `s` is well-formed UTF-8: no truncated sequences, overlong
/// forms, surrogates (U+D800..U+DFFF) or code points past U+10FFFF. NUL
/// bytes are valid UTF-8; callers that refuse them check separately.
bool IsUtf8(std::string_view s);

}  // namespace safeguard

#endif  // SAFEGUARD_COMMON_UTF8_H_
