// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
// `safeguard-bench index`: the matching index's workloads (docs/BENCHMARKS.md).
#ifndef SAFEGUARD_BENCH_INDEX_BENCH_H_
#define SAFEGUARD_BENCH_INDEX_BENCH_H_

namespace safeguard::bench {

/// Runs the index benchmark; argv are the arguments after "index".
int RunIndexBench(int argc, char** argv);

}  // namespace safeguard::bench

#endif  // SAFEGUARD_BENCH_INDEX_BENCH_H_
