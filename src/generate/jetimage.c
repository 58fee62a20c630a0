/* jetimage.c - the DeepTop image preprocessing (see jetimage.h). */
#include "jetcnn/jetimage.h"

#include <math.h>
#include <string.h>

#include "jetcnn/generate.h"
#include "jetcnn/jetobs.h"

jetimage_params jetimage_defaults(void) { return (jetimage_params){40, 1.6, JETIMAGE_PT, 1}; }

int jetimage_n_channels(jetimage_channels channels) { return channels == JETIMAGE_COLOR ? 3 : 1; }

const char *jetimage_channels_name(jetimage_channels channels) {
  return channels == JETIMAGE_COLOR ? "color" : "pt";
}

jc_code jetimage_parse_channels(const char *text, jetimage_channels *out, jc_err *err) {
  if (strcmp(text, "pt") == 0) *out = JETIMAGE_PT;
  else if (strcmp(text, "color") == 0 || strcmp(text, "colour") == 0) *out = JETIMAGE_COLOR;
  else return jc_fail(err, JC_ERR_USAGE, "--channels: '%s' is not one of pt, color", text);
  return JC_OK;
}

typedef struct {
  double pt, x, y;
  int charged;
} pixel_hit;

void jetimage_make(const jetimage_params *p, const float *c, const uint8_t *charged, int m, float *image) {
  static _Thread_local pixel_hit hits[JETOBS_MAX_CONST];
  int n_ch = jetimage_n_channels(p->channels);
  memset(image, 0, sizeof(float) * (size_t)p->pixels * (size_t)p->pixels * (size_t)n_ch);
  if (m > JETOBS_MAX_CONST) m = JETOBS_MAX_CONST;

  /* jet axis from the four-vector sum */
  gen_p4 jet = {0.0, 0.0, 0.0, 0.0};
  for (int r = 0; r < m; r++) {
    const float *row = c + 4 * r;
    jet = gen_p4_sum(jet, (gen_p4){row[0], row[1], row[2], row[3]});
  }
  double eta_j = gen_p4_eta(jet), phi_j = gen_p4_phi(jet);

  /* (u, v) = (d eta, d phi) with phi wrapped, and the pT-weighted centroid */
  int n = 0;
  double sum_pt = 0.0, mean_u = 0.0, mean_v = 0.0;
  for (int r = 0; r < m; r++) {
    if (jetobs_is_padding(c + 4 * r)) continue; /* most rows: skip before the square root */
    gen_p4 q = {c[4 * r], c[4 * r + 1], c[4 * r + 2], c[4 * r + 3]};
    double pt = gen_p4_pt(q);
    if (!(pt > 0.0)) continue;
    hits[n] = (pixel_hit){pt, gen_eta_pt(pt, q.pz) - eta_j, gen_delta_phi(gen_p4_phi(q), phi_j),
                          charged ? charged[r] != 0 : 1};
    sum_pt += pt;
    mean_u += pt * hits[n].x;
    mean_v += pt * hits[n].y;
    n++;
  }
  if (n == 0) return;
  mean_u /= sum_pt;
  mean_v /= sum_pt;

  /* principal axis: angle alpha of the major axis of the pT-weighted covariance,
   * tan(2 alpha) = 2 C_uv / (C_uu - C_vv); rotating by pi/2 - alpha makes it vertical */
  double cuu = 0.0, cvv = 0.0, cuv = 0.0;
  for (int i = 0; i < n; i++) {
    hits[i].x -= mean_u;
    hits[i].y -= mean_v;
    cuu += hits[i].pt * hits[i].x * hits[i].x;
    cvv += hits[i].pt * hits[i].y * hits[i].y;
    cuv += hits[i].pt * hits[i].x * hits[i].y;
  }
  double alpha = 0.5 * atan2(2.0 * cuv, cuu - cvv), beta = 0.5 * M_PI - alpha;
  double cb = cos(beta), sb = sin(beta);
  double left = 0.0, right = 0.0, below = 0.0, above = 0.0;
  for (int i = 0; i < n; i++) {
    double u = hits[i].x, v = hits[i].y;
    hits[i].x = u * cb - v * sb;
    hits[i].y = u * sb + v * cb;
    if (hits[i].x < 0.0) left += hits[i].pt;
    else if (hits[i].x > 0.0) right += hits[i].pt;
    if (hits[i].y < 0.0) below += hits[i].pt;
    else if (hits[i].y > 0.0) above += hits[i].pt;
  }
  double flip_x = left > right ? -1.0 : 1.0, flip_y = below > above ? -1.0 : 1.0;

  /* pixels touched, in first-hit order: normalising visits only them, not all P x P */
  static _Thread_local int touched[JETOBS_MAX_CONST];
  int n_touched = 0;
  double half = 0.5 * p->extent, step = p->extent / p->pixels;
  for (int i = 0; i < n; i++) {
    double x = flip_x * hits[i].x, y = flip_y * hits[i].y;
    double col = floor((x + half) / step), row = floor((half - y) / step);
    if (col < 0.0 || row < 0.0 || col >= p->pixels || row >= p->pixels) continue;
    int pixel = (int)row * p->pixels + (int)col;
    float *px = image + (size_t)pixel * (size_t)n_ch;
    int fresh = 1;
    for (int k = 0; k < n_ch; k++) fresh &= px[k] == 0.0f;
    if (fresh) touched[n_touched++] = pixel;
    if (p->channels == JETIMAGE_PT) {
      px[0] += (float)hits[i].pt;
    } else if (hits[i].charged) {
      px[0] += (float)hits[i].pt;
      px[2] += 1.0f;
    } else {
      px[1] += (float)hits[i].pt;
    }
  }
  if (!p->normalize) return;
  for (int k = 0; k < n_ch; k++) {
    double total = 0.0;
    for (int t = 0; t < n_touched; t++) total += image[(size_t)touched[t] * (size_t)n_ch + (size_t)k];
    if (total <= 0.0) continue;
    for (int t = 0; t < n_touched; t++) {
      float *v = image + (size_t)touched[t] * (size_t)n_ch + (size_t)k;
      *v = (float)(*v / total);
    }
  }
}
