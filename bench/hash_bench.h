// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
// `safeguard-bench hash`: the hasher's workloads (see docs/BENCHMARKS.md).
#ifndef SAFEGUARD_BENCH_HASH_BENCH_H_
#define SAFEGUARD_BENCH_HASH_BENCH_H_

namespace safeguard::bench {

/// Runs the hash benchmarks; argv are the arguments after "hash".
int RunHashBench(int argc, char** argv);

}  // namespace safeguard::bench

#endif  // SAFEGUARD_BENCH_HASH_BENCH_H_
