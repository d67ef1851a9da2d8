// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// safeguard-bench WORKLOAD [options]: benchmark programs, never timed unit
// tests. Each workload measures ours and its baseline side by side in one
// run (interleaved rounds, medians) because these machines are shared and
// noisy. Results go to docs/BENCHMARKS.md with the command that made them.

#include <cstdio>
#include <cstring>

#include "bank_bench.h"
#include "guard_bench.h"
#include "guard_output_bench.h"
#include "hash_bench.h"
#include "http_load.h"
#include "index_bench.h"
#include "video_bench.h"
#include "watermark_bench.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "hash") == 0)
    return safeguard::bench::RunHashBench(argc - 2, argv + 2);
  if (argc >= 2 && std::strcmp(argv[1], "index") == 0)
    return safeguard::bench::RunIndexBench(argc - 2, argv + 2);
  if (argc >= 2 && std::strcmp(argv[1], "bank") == 0)
    return safeguard::bench::RunBankBench(argc - 2, argv + 2);
  if (argc >= 2 && std::strcmp(argv[1], "http") == 0)
    return safeguard::bench::RunHttpBench(argc - 2, argv + 2);
  if (argc >= 2 && std::strcmp(argv[1], "video") == 0)
    return safeguard::bench::RunVideoBench(argc - 2, argv + 2);
  if (argc >= 2 && std::strcmp(argv[1], "guard-prompt") == 0)
    return safeguard::bench::RunGuardPromptBench(argc - 2, argv + 2);
  if (argc >= 2 && std::strcmp(argv[1], "guard-output") == 0)
    return safeguard::bench::RunGuardOutputBench(argc - 2, argv + 2);
  if (argc >= 2 && std::strcmp(argv[1], "watermark") == 0)
    return safeguard::bench::RunWatermarkBench(argc - 2, argv + 2);
  std::fprintf(
      stderr,
      "usage: safeguard-bench hash [--corpus DIR] [--full-corpus DIR] [--rounds N] [--quick]\n"
      "       safeguard-bench index [--n N] [--dist uniform|clustered|zipf] [--queries Q] [--radius R]\n"
      "                             [--compare scan,faiss,live] [--snapshot DIR] [--prefault yes|no]\n"
      "       safeguard-bench bank [--n N] [--dir DIR] [--withdrawals W] [--postgres CONNINFO]\n"
      "       safeguard-bench http --url http://HOST:PORT/path [--method GET|POST] [--rate R] ...\n"
      "       safeguard-bench video [--videos DIR|FILE,...] [--synthetic SECONDS] [--work DIR] [--runs N]\n"
      "       safeguard-bench guard-prompt [--data DIR] [--rounds N]\n"
      "       safeguard-bench guard-output [--corpus DIR] [--limit N]\n"
      "       safeguard-bench watermark [--corpus DIR] [--limit N]\n");
  return 2;
}
