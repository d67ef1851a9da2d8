// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
// `safeguard-bench bank`: the bank store's workloads (docs/BENCHMARKS.md).
#ifndef SAFEGUARD_BENCH_BANK_BENCH_H_
#define SAFEGUARD_BENCH_BANK_BENCH_H_

namespace safeguard::bench {

/// Runs the bank benchmark; argv are the arguments after "bank".
int RunBankBench(int argc, char** argv);

}  // namespace safeguard::bench

#endif  // SAFEGUARD_BENCH_BANK_BENCH_H_
