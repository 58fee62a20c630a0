/* imageopts.h - the image options shared by `jetcnn generate` and `jetcnn images`. */
#ifndef JETCNN_CLI_IMAGEOPTS_H
#define JETCNN_CLI_IMAGEOPTS_H

#include "cli.h"
#include "jetcnn/jetimage.h"

/* The option rows --pixels, --extent, --channels, --no-normalize, to put in a cli_opt table. */
#define IMAGEOPTS_ROWS                                                                          \
  {"pixels", 1, "P", "image is P x P pixels (default 40)", 0, {0}},                             \
      {"extent", 1, "E", "image side in (eta, phi) (default 1.6: 0.04 per pixel at 40)", 0, {0}}, \
      {"channels", 1, "KIND", "pt (1 channel) or color (charged pT, neutral pT, charged count)", 0, {0}}, \
      {"no-normalize", 0, NULL, "keep pT in GeV instead of scaling each channel to unit sum", 0, {0}}

/* Read those options (defaults from jetimage_defaults()); JC_ERR_USAGE on bad values. */
jc_code imageopts_parse(const cli_opt *opts, int n_opts, jetimage_params *out, jc_err *err);

#endif
