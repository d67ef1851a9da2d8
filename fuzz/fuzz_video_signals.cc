// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// libFuzzer target for the video signal formats a bank stores: .tmk files
// (TmkFeatures::Parse) and vPDQ text (ParseVpdqText). The first byte picks
// the parser. Beyond not crashing: whatever a parser accepts prints back to
// bytes that parse to the same value (the .tmk byte for byte), and scoring
// an accepted TMK against itself stays finite.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "safeguard/video/tmk.h"
#include "safeguard/video/vpdq.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace safeguard::video;
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    TmkFeatures t;
    if (!TmkFeatures::Parse(bytes, &t).ok()) return 0;
    if (t.Serialize() != bytes) __builtin_trap();
    // Level 2 walks every offset of every period: only for small ones.
    if (TmkCompatible(t, t).ok() && t.periods.size() <= 4 && t.coefficients.size() <= 8) {
      int64_t steps = 0;
      for (int32_t p : t.periods) steps += p;
      if (steps < 20000 && !std::isfinite(TmkLevel2Score(t, t))) __builtin_trap();
    }
    if (!std::isfinite(TmkLevel1Score(t, t))) __builtin_trap();
    return 0;
  }
  std::vector<VpdqFrame> frames, back;
  if (!ParseVpdqText(bytes, &frames).ok()) return 0;
  if (!ParseVpdqText(VpdqToText(frames), &back).ok() || back.size() != frames.size()) __builtin_trap();
  for (size_t i = 0; i < frames.size(); ++i) {
    if (!(back[i].hash == frames[i].hash) || back[i].quality != frames[i].quality ||
        back[i].index != frames[i].index) {
      __builtin_trap();
    }
  }
  CompareVpdq(frames, frames);
  return 0;
}
