// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.

#ifndef SAFEGUARD_BENCH_GUARD_BENCH_H_
#define SAFEGUARD_BENCH_GUARD_BENCH_H_

namespace safeguard::bench {

/// safeguard-bench guard-prompt: see the .cc file.
int RunGuardPromptBench(int argc, char** argv);

}  // namespace safeguard::bench

#endif  // SAFEGUARD_BENCH_GUARD_BENCH_H_
