/* ziggurat.c - standard normal numbers for the generator (see generate.h).
 *
 * The ziggurat method (Marsaglia & Tsang 2000, 256 layers, as refined by Doornik 2005 to
 * take the layer and the position from independent bits): the area under exp(-x^2/2), x >= 0,
 * is covered by 255 rectangles of equal area V stacked on a base strip of the same area
 * (which holds the tail beyond R). One 64-bit draw picks a layer (8 bits), a sign (1 bit)
 * and a position in the layer (53 bits); 99 % of the time the position lies in the part of
 * the layer that is entirely under the curve and is returned at once. Exact normal numbers
 * at a few nanoseconds each, without the logarithm polar Box-Muller takes per pair.
 */
#include "jetcnn/generate.h"

#include <math.h>
#include <pthread.h>

#define LAYERS GEN_ZIG_LAYERS
#define ZIG_R 3.6541528853610088 /* where the tail starts */
#define ZIG_V 0.00492867323399   /* area of each layer, of the base strip with the tail too */

/* right edge x_i of layer i (x_0 = V / f(R), the base strip's); read inline by
 * gen_rng_gauss (generate.h) */
double gen_zig_x[GEN_ZIG_LAYERS + 1];
static double layer_f[LAYERS + 1]; /* f(x_i): layer i >= 1 spans y in [f(x_i), f(x_{i+1})] */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static double density(double x) { return exp(-0.5 * x * x); }

static void build_tables(void) {
  gen_zig_x[0] = ZIG_V / density(ZIG_R);
  gen_zig_x[1] = ZIG_R;
  for (int i = 1; i < LAYERS - 1; i++) gen_zig_x[i + 1] = sqrt(-2.0 * log(ZIG_V / gen_zig_x[i] + density(gen_zig_x[i])));
  gen_zig_x[LAYERS] = 0.0;
  for (int i = 0; i <= LAYERS; i++) layer_f[i] = density(gen_zig_x[i]);
}

/* The tail x > R (Marsaglia 1964): x = R + a with a exponential of rate R, accepted with
 * probability exp(-a^2/2). */
static double tail(gen_rng *rng) {
  double a, b;
  do {
    a = -log(gen_rng_uniform(rng)) / ZIG_R;
    b = -log(gen_rng_uniform(rng));
  } while (2.0 * b < a * a);
  return ZIG_R + a;
}

void gen_zig_init(void) { pthread_once(&tables_once, build_tables); }

/* The 1 % gen_rng_gauss does not settle inline: the tail, the wedges, and new draws. */
double gen_rng_gauss_rest(gen_rng *rng, uint64_t bits) {
  for (;;) {
    int i = (int)(bits & (LAYERS - 1));
    double sign = (bits & LAYERS) ? -1.0 : 1.0;
    double x = (double)(bits >> 11) * (1.0 / 9007199254740992.0) * gen_zig_x[i];
    if (x < gen_zig_x[i + 1]) return sign * x; /* under the layer above: under the curve */
    if (i == 0) return sign * tail(rng);
    /* the wedge between x_{i+1} and x_i: keep (x, y) if y is under the curve */
    double y = layer_f[i] + gen_rng_uniform(rng) * (layer_f[i + 1] - layer_f[i]);
    if (y < density(x)) return sign * x;
    bits = gen_rng_u64(rng);
  }
}
