// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
// `safeguard-bench video`: vPDQ and TMK+PDQF speed per stage (issue 6; see
// docs/BENCHMARKS.md).
#ifndef SAFEGUARD_BENCH_VIDEO_BENCH_H_
#define SAFEGUARD_BENCH_VIDEO_BENCH_H_

namespace safeguard::bench {

/// Runs the video benchmarks; argv are the arguments after "video".
int RunVideoBench(int argc, char** argv);

}  // namespace safeguard::bench

#endif  // SAFEGUARD_BENCH_VIDEO_BENCH_H_
