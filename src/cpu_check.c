/* cpu_check.c - does this CPU have the instruction-set features the build needs? (see cpu.h)
 * Compiled for baseline x86-64 (CMakeLists.txt, JETCNN_BASELINE_FLAGS): it runs before
 * anything else on CPUs that may lack every extension, so it must not use any of them. */
#include "jetcnn/cpu.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) &&                                                                              \
    (defined(__SSE3__) || defined(__AVX__) || defined(__POPCNT__) || defined(__BMI__) || defined(__LZCNT__) || \
     defined(__MOVBE__) || defined(__AES__))
#error "cpu_check.c must be compiled for baseline x86-64 (CMakeLists.txt: JETCNN_BASELINE_FLAGS)"
#endif

#if defined(__x86_64__)
#include <cpuid.h>

/* Register state the OS must save for a feature's registers (XCR0 bits). */
enum { STATE_NONE = 0, STATE_AVX = 0x6, STATE_AVX512 = 0xe6 };
enum { EAX, EBX, ECX, EDX };

/* Where cpuid reports each feature (Intel SDM vol. 2A, CPUID; AMD APM vol. 3, appendix E). */
typedef struct {
  const char *name;
  unsigned leaf, subleaf;
  int reg, bit;
  unsigned state;
} feature;

static const feature FEATURES[] = {
    {"sse", 1, 0, EDX, 25, STATE_NONE},
    {"sse2", 1, 0, EDX, 26, STATE_NONE},
    {"sse3", 1, 0, ECX, 0, STATE_NONE},
    {"ssse3", 1, 0, ECX, 9, STATE_NONE},
    {"sse4.1", 1, 0, ECX, 19, STATE_NONE},
    {"sse4.2", 1, 0, ECX, 20, STATE_NONE},
    {"popcnt", 1, 0, ECX, 23, STATE_NONE},
    {"avx", 1, 0, ECX, 28, STATE_AVX},
    {"avx2", 7, 0, EBX, 5, STATE_AVX},
    {"fma", 1, 0, ECX, 12, STATE_AVX},
    {"f16c", 1, 0, ECX, 29, STATE_AVX},
    {"bmi", 7, 0, EBX, 3, STATE_NONE},
    {"bmi2", 7, 0, EBX, 8, STATE_NONE},
    {"lzcnt", 0x80000001u, 0, ECX, 5, STATE_NONE},
    {"movbe", 1, 0, ECX, 22, STATE_NONE},
    {"aes", 1, 0, ECX, 25, STATE_NONE},
    {"pclmul", 1, 0, ECX, 1, STATE_NONE},
    {"sha", 7, 0, EBX, 29, STATE_NONE},
    {"adx", 7, 0, EBX, 19, STATE_NONE},
    {"gfni", 7, 0, ECX, 8, STATE_NONE},
    {"vaes", 7, 0, ECX, 9, STATE_AVX},
    {"vpclmulqdq", 7, 0, ECX, 10, STATE_AVX},
    {"avxvnni", 7, 1, EAX, 4, STATE_AVX},
    {"avx512f", 7, 0, EBX, 16, STATE_AVX512},
    {"avx512cd", 7, 0, EBX, 28, STATE_AVX512},
    {"avx512vl", 7, 0, EBX, 31, STATE_AVX512},
    {"avx512bw", 7, 0, EBX, 30, STATE_AVX512},
    {"avx512dq", 7, 0, EBX, 17, STATE_AVX512},
    {"avx512ifma", 7, 0, EBX, 21, STATE_AVX512},
    {"avx512vbmi", 7, 0, ECX, 1, STATE_AVX512},
    {"avx512vbmi2", 7, 0, ECX, 6, STATE_AVX512},
    {"avx512vnni", 7, 0, ECX, 11, STATE_AVX512},
    {"avx512bitalg", 7, 0, ECX, 12, STATE_AVX512},
    {"avx512vpopcntdq", 7, 0, ECX, 14, STATE_AVX512},
    {"avx512bf16", 7, 1, EAX, 5, STATE_AVX512},
    {"avx512fp16", 7, 0, EDX, 23, STATE_AVX512},
};
static const int N_FEATURES = (int)(sizeof FEATURES / sizeof FEATURES[0]);

/* XCR0: the register state the OS saves and restores (0 when it does not use XSAVE). */
static uint64_t os_saved_state(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static int cpu_reports(const feature *f) {
  unsigned r[4] = {0, 0, 0, 0};
  if (!__get_cpuid_count(f->leaf, f->subleaf, &r[EAX], &r[EBX], &r[ECX], &r[EDX])) return 0;
  if (!((r[f->reg] >> f->bit) & 1u)) return 0;
  return f->state == STATE_NONE || (os_saved_state() & f->state) == f->state;
}

/* The processor's brand string (cpuid 0x80000002..4), trimmed. */
static void cpu_brand(char *out, size_t n) {
  unsigned r[12];
  snprintf(out, n, "unknown model");
  for (unsigned i = 0; i < 3; i++)
    if (!__get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3])) return;
  char brand[49];
  memcpy(brand, r, 48);
  brand[48] = '\0';
  const char *s = brand;
  while (*s == ' ') s++;
  if (*s) snprintf(out, n, "%s", s);
}
#else
typedef struct {
  const char *name;
} feature;
static const feature FEATURES[] = {{""}};
static const int N_FEATURES = 0;
static int cpu_reports(const feature *f) { return 1; }
static void cpu_brand(char *out, size_t n) { snprintf(out, n, "not x86-64"); }
#endif

/* 1 if the space- or comma-separated list holds word w (of length len). */
static int list_has(const char *list, const char *w, size_t len) {
  for (const char *p = list; p && *p;) {
    while (*p == ' ' || *p == ',') p++;
    size_t k = strcspn(p, " ,");
    if (k == len && k > 0 && strncmp(p, w, len) == 0) return 1;
    p += k;
  }
  return 0;
}

int cpu_missing(const char *need, int (*has)(const char *name, void *ctx), void *ctx, char *out, size_t n) {
  int count = 0;
  size_t used = 0;
  if (n > 0) out[0] = '\0';
  for (const char *p = need; p && *p;) {
    while (*p == ' ') p++;
    size_t k = strcspn(p, " ");
    if (k > 0) {
      char name[32];
      snprintf(name, sizeof name, "%.*s", (int)(k < sizeof name - 1 ? k : sizeof name - 1), p);
      if (!has(name, ctx)) {
        count++;
        if (used < n) used += (size_t)snprintf(out + used, n - used, "%s%s", used ? " " : "", name);
      }
    }
    p += k;
  }
  return count;
}

int cpu_has(const char *name, const char *pretend_missing) {
  if (list_has(pretend_missing, name, strlen(name))) return 0;
  for (int i = 0; i < N_FEATURES; i++)
    if (strcmp(FEATURES[i].name, name) == 0) return cpu_reports(&FEATURES[i]);
  return 0; /* a feature this check does not know cannot be vouched for */
}

static int has_cb(const char *name, void *pretend) { return cpu_has(name, pretend); }
static int built_for(const char *name, void *unused) { return list_has(cpu_build_features, name, strlen(name)); }

/* The x86-64 micro-architecture levels (psABI): each adds these features to the one before. */
static const char *const LEVELS[][9] = {
    {"x86-64", "sse", "sse2", NULL},
    {"x86-64-v2", "sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", NULL},
    {"x86-64-v3", "avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe"},
    {"x86-64-v4", "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", NULL},
};
enum { N_LEVELS = 4, LEVEL_WIDTH = 9 };

/* A feature set as "x86-64-vN + the features beyond it" into out. */
static void describe(int (*has)(const char *, void *), void *ctx, char *out, size_t n) {
  int level = -1;
  for (int l = 0; l < N_LEVELS; l++) {
    int all = 1;
    for (int k = 1; k < LEVEL_WIDTH && LEVELS[l][k]; k++) all &= has(LEVELS[l][k], ctx) != 0;
    if (!all) break;
    level = l;
  }
  size_t used = (size_t)snprintf(out, n, "%s", level >= 0 ? LEVELS[level][0] : "less than x86-64");
  int extras = 0;
  for (int i = 0; i < N_FEATURES && used < n; i++) {
    int in_level = 0;
    for (int l = 0; l <= level; l++)
      for (int k = 1; k < LEVEL_WIDTH && LEVELS[l][k]; k++) in_level |= strcmp(LEVELS[l][k], FEATURES[i].name) == 0;
    if (!in_level && has(FEATURES[i].name, ctx))
      used += (size_t)snprintf(out + used, n - used, "%s%s", extras++ ? " " : (level >= 0 ? " + " : ": "),
                               FEATURES[i].name);
  }
}

jc_code cpu_check(const char *pretend_missing, jc_err *err) {
  char missing[512], need[512], have[512], brand[64], host[256] = "?";
  if (cpu_missing(cpu_build_features, has_cb, (void *)pretend_missing, missing, sizeof missing) == 0) return JC_OK;
  describe(built_for, NULL, need, sizeof need);
  describe(has_cb, (void *)pretend_missing, have, sizeof have);
  cpu_brand(brand, sizeof brand);
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
  host[sizeof host - 1] = '\0';
  /* Not jc_fail(): error.c is compiled for the build's target (a varargs prologue may already
   * save vector registers with instructions this CPU lacks). */
  if (err) {
    err->code = JC_ERR_RUNTIME;
    snprintf(err->msg, sizeof err->msg,
             "this CPU cannot run this jetcnn binary (it would stop with SIGILL): the binary was compiled with %s "
             "for %s; this CPU (%s, host %s) has %s and lacks %s. Build jetcnn for the compute nodes "
             "(docs/cluster.md, \"A binary for the compute nodes\")",
             cpu_build_target, need, brand, host, have, missing);
  }
  return JC_ERR_RUNTIME;
}
