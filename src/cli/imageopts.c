/* imageopts.c - the image options shared by generate and images (see imageopts.h). */
#include "imageopts.h"

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
