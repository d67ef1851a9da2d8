// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#ifndef SAFEGUARD_BENCH_GUARD_OUTPUT_BENCH_H_
#define SAFEGUARD_BENCH_GUARD_OUTPUT_BENCH_H_

namespace safeguard::bench {

/// safeguard-bench guard-output: see the .cc file.
int RunGuardOutputBench(int argc, char** argv);

}  // namespace safeguard::bench

#endif  // SAFEGUARD_BENCH_GUARD_OUTPUT_BENCH_H_
