/* jetimage.h - constituents -> jet image, the DeepTop preprocessing (JHEP 05 (2017) 006).
 *
 * In (eta, phi) relative to the jet axis (phi wrapped): centre on the pT-weighted centroid,
 * rotate the principal axis of the pT-weighted covariance to vertical, flip so the larger
 * pT lies right of and above the centre, pixelate. Image layout (pixels, pixels, channels),
 * channels last; row 0 is the top (largest y), column 0 the left (smallest x); pixel (r, c)
 * covers x in [-e/2 + c d, -e/2 + (c+1) d), y in (e/2 - (r+1) d, e/2 - r d], d = e / pixels.
 */
#ifndef JETCNN_JETIMAGE_H
#define JETCNN_JETIMAGE_H

#include <stdint.h>

#include "jetcnn/error.h"

typedef enum {
  JETIMAGE_PT = 0,   /* 1 channel: pT per pixel */
  JETIMAGE_COLOR = 1 /* 3 channels (JHEP 01 (2017) 110): charged pT, neutral pT, charged count */
} jetimage_channels;

typedef struct {
  int pixels;       /* image is pixels x pixels */
  double extent;    /* side length in (eta, phi) */
  jetimage_channels channels;
  int normalize;    /* 1: each channel scaled to unit sum (when its sum is > 0) */
} jetimage_params;

/* The defaults, matching configs/deeptop.cfg: 40 x 40, extent 1.6, pT, normalised. */
jetimage_params jetimage_defaults(void);

/* Channels per pixel: 1 or 3. */
int jetimage_n_channels(jetimage_channels channels);

/* "pt" or "color". */
const char *jetimage_channels_name(jetimage_channels channels);

/* Parse "pt" / "color" (also "colour"); JC_ERR_USAGE otherwise. */
jc_code jetimage_parse_channels(const char *text, jetimage_channels *out, jc_err *err);

/* Image of a jet given as m rows c[m][4] = (E, px, py, pz) (zero rows are padding), with
 * charged[m] flags (may be NULL for JETIMAGE_PT). Writes pixels*pixels*channels floats.
 * Constituents outside the image or with no pT are left out. m <= JETOBS_MAX_CONST. */
void jetimage_make(const jetimage_params *p, const float *c, const uint8_t *charged, int m, float *image);

#endif
