// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// libFuzzer target for the PNM decoder; see fuzz_decode.h.

#include <cstddef>
#include <cstdint>

#include "fuzz_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return safeguard::fuzz::FuzzDecode(safeguard::media::ImageFormat::kPnm, data, size);
}
