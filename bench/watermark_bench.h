// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#ifndef SAFEGUARD_BENCH_WATERMARK_BENCH_H_
#define SAFEGUARD_BENCH_WATERMARK_BENCH_H_

namespace safeguard::bench {

/// safeguard-bench watermark: see the .cc file.
int RunWatermarkBench(int argc, char** argv);

}  // namespace safeguard::bench

#endif  // SAFEGUARD_BENCH_WATERMARK_BENCH_H_
