// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// The exact, boring PDQ: a plain transcription of the published algorithm
// and of the reference implementation's arithmetic (running-sum box filter
// with its four phases, centre-sampled decimation, matrix DCT, Torben
// median), written for reading, not speed. The optimised src/hash/pdq.cc is
// checked against it on many inputs.

#ifndef SAFEGUARD_TESTS_REFERENCE_PDQ_REFERENCE_H_
#define SAFEGUARD_TESTS_REFERENCE_PDQ_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "safeguard/hash/pdq.h"

namespace safeguard::reference {

/// PDQ of pixels (channels 1 or 3, tightly packed), including the
/// reference's nearest-neighbour resize to 512x512 and its grey rule.
/// dihedral may be null.
void PdqFromPixels(const uint8_t* pixels, int width, int height, int channels, bool all_grey,
                   pdq::Hash256* hash, int* quality, pdq::Hash256* dihedral);

/// PDQ of a luma matrix (rows x cols, row-major), as the reference's
/// pdqHash256FromFloatLuma (hash, quality) and pdqDihedralHash256esFromFloatLuma
/// (dihedral, when non-null).
void PdqFromLuma(std::vector<float> luma, int rows, int cols, pdq::Hash256* hash, int* quality,
                 pdq::Hash256* dihedral);

}  // namespace safeguard::reference

#endif  // SAFEGUARD_TESTS_REFERENCE_PDQ_REFERENCE_H_
