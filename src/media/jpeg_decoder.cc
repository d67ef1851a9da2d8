// Copyright (c) Safeguard authors. Licensed under the Apache License 2.0.
//
// JPEG through libjpeg-turbo, the library ImageMagick (and so the PDQ
// reference) decodes with: default settings (ISLOW IDCT, fancy upsampling)
// give the reference's pixels bit for bit. Rows are read one at a time into
// the builder, so memory is one row plus the (sampled) result.
//
// libjpeg reports fatal errors through longjmp. The frame that calls setjmp
// (RunDecode) holds no object with a destructor; the row buffer comes from
// libjpeg's own pool, freed by jpeg_destroy_decompress.

#include <csetjmp>
#include <cstdio>
#include <string>

// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "decoders.h"

namespace safeguard::media {
namespace {

// A hostile progressive JPEG can carry thousands of tiny scans that each cost
// a full pass over the coefficients; libjpeg-turbo's own tools cap them too.
constexpr int kMaxScans = 500;
// Upper bound on libjpeg's working memory (progressive coefficient buffers).
constexpr long kMaxJpegMemory = 1536L << 20;

struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  int error_code;
  jpeg_progress_mgr progress;  // here, not on a stack frame libjpeg may leave
  bool truncated;
  bool too_many_scans;
};

void OnError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  err->error_code = cinfo->err->msg_code;
  longjmp(err->jump, 1);
}

void OnMessage(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (level >= 0) return;  // trace messages
  cinfo->err->num_warnings++;
  // The entropy-coded data ran out (end of file, or a marker such as EOI
  // where data should be): every row below that point is invented grey.
  // Report the file as truncated rather than hash invented pixels.
  const int code = cinfo->err->msg_code;
  if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) err->truncated = true;
}

void OnProgress(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxScans) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    err->too_many_scans = true;
    std::snprintf(err->message, sizeof(err->message), "more than %d scans", kMaxScans);
    longjmp(err->jump, 1);
  }
}

struct Request {
  Bytes bytes;
  const DecodeOptions* options;
  ImageBuilder* builder;
  Status* status;  // set when the builder refuses the size
};

// Picks the smallest libjpeg-turbo scale N/8 that keeps both sides >= target.
void ChooseScale(jpeg_decompress_struct* cinfo, int target) {
  const unsigned w = cinfo->image_width, h = cinfo->image_height;
  if (target <= 0 || (w <= static_cast<unsigned>(target) && h <= static_cast<unsigned>(target))) return;
  for (unsigned n = 1; n <= 8; ++n) {
    const unsigned sw = (w * n + 7) / 8, sh = (h * n + 7) / 8;
    if (sw >= static_cast<unsigned>(target) && sh >= static_cast<unsigned>(target)) {
      cinfo->scale_num = n;
      cinfo->scale_denom = 8;
      return;
    }
  }
}

// The decode proper; libjpeg may longjmp out of it to RunDecode. Kept out of
// line so that no local of the frame that calls setjmp changes after it.
// Returns 0 on success, 1 when libjpeg failed (message in err), 2 when the
// builder refused (status in req.status).
__attribute__((noinline)) int DecodeBody(jpeg_decompress_struct* cinfo, ErrorManager* err,
                                         const Request& req) {
  cinfo->mem->max_memory_to_use = kMaxJpegMemory;
  err->progress.progress_monitor = &OnProgress;
  cinfo->progress = &err->progress;
  jpeg_mem_src(cinfo, req.bytes.data(), static_cast<unsigned long>(req.bytes.size()));
  jpeg_read_header(cinfo, TRUE);

  *req.status = req.builder->CheckSize(cinfo->image_width, cinfo->image_height, "JPEG");
  if (!req.status->ok()) return 2;

  bool cmyk = false;
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
      cinfo->out_color_space = JCS_GRAYSCALE;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      cinfo->out_color_space = JCS_CMYK;
      cmyk = true;
      break;
    default:
      cinfo->out_color_space = req.options->luma_only ? JCS_GRAYSCALE : JCS_RGB;
      break;
  }
  if (req.options->reduce_to > 0) {
    ChooseScale(cinfo, req.options->reduce_to);
    cinfo->dct_method = JDCT_IFAST;
    cinfo->do_fancy_upsampling = FALSE;
  }
  jpeg_start_decompress(cinfo);
  const int width = static_cast<int>(cinfo->output_width);
  const int height = static_cast<int>(cinfo->output_height);
  const RowLayout layout = cinfo->out_color_space == JCS_GRAYSCALE ? RowLayout::kGrey : RowLayout::kRgb;
  *req.status = req.builder->Begin(width, height, layout, "JPEG", static_cast<int>(cinfo->image_width),
                                   static_cast<int>(cinfo->image_height));
  if (!req.status->ok()) return 2;

  const int comps = cinfo->output_components;
  // libjpeg-turbo's SIMD colour conversion writes an aligned output row with
  // non-temporal stores, which bypass the cache, and the builder reads the
  // row right back: a trip to memory per line. One byte off alignment it uses
  // ordinary stores and the row stays in L1.
  JSAMPARRAY row = (*cinfo->mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(cinfo), JPOOL_IMAGE,
                                               static_cast<JDIMENSION>(width * comps + 64), 1);
  row[0] += 1;
  JSAMPARRAY rgb = cmyk ? (*cinfo->mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(cinfo), JPOOL_IMAGE,
                                                      static_cast<JDIMENSION>(width * 3), 1)
                        : nullptr;
  while (cinfo->output_scanline < cinfo->output_height) {
    const int y = static_cast<int>(cinfo->output_scanline);
    if (jpeg_read_scanlines(cinfo, row, 1) != 1) break;
    if (cmyk) {
      // Adobe CMYK JPEGs store inverted ink values, as ImageMagick assumes:
      // R = C' * K' / 255 with C', K' the stored samples.
      const JSAMPLE* p = row[0];
      JSAMPLE* q = rgb[0];
      for (int x = 0; x < width; ++x, p += 4, q += 3) {
        const unsigned k = p[3];
        q[0] = static_cast<JSAMPLE>((p[0] * k + 127) / 255);
        q[1] = static_cast<JSAMPLE>((p[1] * k + 127) / 255);
        q[2] = static_cast<JSAMPLE>((p[2] * k + 127) / 255);
      }
      req.builder->AddRow(y, rgb[0]);
    } else {
      req.builder->AddRow(y, row[0]);
    }
    if (err->truncated) return 1;
  }
  jpeg_finish_decompress(cinfo);
  return 0;
}

int RunDecode(jpeg_decompress_struct* cinfo, ErrorManager* err, const Request& req) {
  if (setjmp(err->jump)) return 1;
  jpeg_create_decompress(cinfo);
  return DecodeBody(cinfo, err, req);
}

}  // namespace

Status DecodeJpeg(Bytes bytes, const DecodeOptions& options, ImageBuilder* builder) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = &OnError;
  err.pub.emit_message = &OnMessage;
  err.message[0] = '\0';
  err.error_code = 0;
  err.truncated = false;
  err.too_many_scans = false;
  Status status;
  const Request req{bytes, &options, builder, &status};
  const int rc = RunDecode(&cinfo, &err, req);
  jpeg_destroy_decompress(&cinfo);
  if (rc == 2) return status;
  if (rc == 1 || err.truncated) {
    if (err.truncated) return Status::Corrupt("JPEG data ends before the last row (truncated file)");
    if (err.too_many_scans) return Status::Corrupt(std::string("JPEG refused: ") + err.message);
    if (err.error_code == JERR_IMAGE_TOO_BIG) {
      return Status::TooLarge(std::string("JPEG declares a size libjpeg refuses: ") + err.message);
    }
    return Status::Corrupt(std::string("JPEG is damaged: ") + err.message);
  }
  return Status::Ok();
}

}  // namespace safeguard::media
