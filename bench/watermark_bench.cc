// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#include "watermark_bench.h"

#include <cstdio>

namespace safeguard::bench {

int RunWatermarkBench(int, char**) {
  std::fprintf(stderr, "safeguard-bench watermark: not written yet\n");
  return 2;
}

}  // namespace safeguard::bench
