/* imageopts.c - image options and progress shared by generate and images (see imageopts.h). */
#include "imageopts.h"

#include <stdio.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

jc_code imageopts_parse(const cli_opt *opts, int n_opts, jetimage_params *out, jc_err *err) {
  *out = jetimage_defaults();
  const char *v;
  long pixels;
  if ((v = cli_value(opts, n_opts, "pixels"))) {
    JC_TRY(cli_long("pixels", v, 1, 1024, &pixels, err));
    out->pixels = (int)pixels;
  }
  if ((v = cli_value(opts, n_opts, "extent"))) JC_TRY(cli_double("extent", v, 1e-3, 10.0, &out->extent, err));
  if ((v = cli_value(opts, n_opts, "channels"))) JC_TRY(jetimage_parse_channels(v, &out->channels, err));
  out->normalize = !cli_flag(opts, n_opts, "no-normalize");
  return JC_OK;
}

void imageopts_progress(MPI_Comm comm, const char *verb, unsigned long long done, unsigned long long total,
                        double seconds) {
  double rate = seconds > 0.0 ? (double)done / seconds : 0.0;
  double eta = rate > 0.0 ? (double)(total - done) / rate : 0.0;
  cli_printf(comm, "%s %llu/%llu jets (%3.0f%%)  %.0f jets/s  %.1f s elapsed, %.1f s left\n", verb, done, total,
             total ? 100.0 * (double)done / (double)total : 100.0, rate, seconds, eta);
  fflush(stdout);
}

void imageopts_keep_chunk_buffers(void) {
#ifdef __GLIBC__
  /* shuffle + deflate allocate ~2 chunk-sized buffers (up to 1.6 MB) per chunk; above the
   * mmap threshold each is a fresh mapping, page-faulted in and unmapped again (5 % of the
   * CPU time of generate). The return values only say whether glibc took the hint. */
  (void)mallopt(M_MMAP_THRESHOLD, 64 << 20);
  (void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}
