/* test_cpu_check.c - the start-up CPU check (include/jetcnn/cpu.h):
 *  1. cpu_missing(): the comparison, against a made-up CPU;
 *  2. cpu_has(): cpuid's answer for every feature of the table equals the compiler runtime's
 *     own (__builtin_cpu_supports, libgcc's independent cpuid decoding), and pretending a
 *     feature is missing hides exactly that feature;
 *  3. cpu_check(): passes on the CPU the tests run on (the build's own, or one at least as
 *     capable) and fails, naming what the binary needs and what the CPU lacks, when a feature
 *     the build was compiled for is pretended missing. */
#include <stdio.h>
#include <string.h>

#include "gen_check.h"
#include "jetcnn/cpu.h"

/* A made-up CPU: has exactly the words of the space-separated list ctx. */
static int fake_has(const char *name, void *ctx) {
  char list[256];
  snprintf(list, sizeof list, " %s ", (const char *)ctx);
  char word[64];
  snprintf(word, sizeof word, " %s ", name);
  return strstr(list, word) != NULL;
}

static void test_missing(void) {
  char out[128];
  int n = cpu_missing(" sse sse2 avx avx2 fma avx512f", fake_has, "sse sse2 avx avx512f", out, sizeof out);
  CHECK(n == 2 && strcmp(out, "avx2 fma") == 0, "missing avx2 fma: got %d '%s'", n, out);
  n = cpu_missing(" sse sse2", fake_has, "sse sse2 avx", out, sizeof out);
  CHECK(n == 0 && out[0] == '\0', "nothing missing: got %d '%s'", n, out);
  n = cpu_missing("", fake_has, "", out, sizeof out);
  CHECK(n == 0 && out[0] == '\0', "empty need: got %d '%s'", n, out);
  /* avx2 is not avx: whole words only */
  n = cpu_missing(" avx", fake_has, "avx2", out, sizeof out);
  CHECK(n == 1 && strcmp(out, "avx") == 0, "avx vs avx2: got %d '%s'", n, out);
  char tiny[6];
  n = cpu_missing(" avx512f avx512bw avx512vl", fake_has, "", tiny, sizeof tiny);
  CHECK(n == 3 && strlen(tiny) < sizeof tiny, "a short buffer still counts all 3 and stays terminated: %d '%s'", n,
        tiny);
}

#define SAME_AS_LIBGCC(name)                                                                               \
  CHECK(cpu_has(name, NULL) == (__builtin_cpu_supports(name) != 0), "%s: cpuid table says %d, libgcc says %d", \
        name, cpu_has(name, NULL), __builtin_cpu_supports(name) != 0)

static void test_has(void) {
  __builtin_cpu_init();
#if defined(__x86_64__)
  SAME_AS_LIBGCC("sse");
  SAME_AS_LIBGCC("sse2");
  SAME_AS_LIBGCC("sse3");
  SAME_AS_LIBGCC("ssse3");
  SAME_AS_LIBGCC("sse4.1");
  SAME_AS_LIBGCC("sse4.2");
  SAME_AS_LIBGCC("popcnt");
  SAME_AS_LIBGCC("avx");
  SAME_AS_LIBGCC("avx2");
  SAME_AS_LIBGCC("fma");
  SAME_AS_LIBGCC("bmi");
  SAME_AS_LIBGCC("bmi2");
  SAME_AS_LIBGCC("aes");
  SAME_AS_LIBGCC("pclmul");
  SAME_AS_LIBGCC("gfni");
  SAME_AS_LIBGCC("vpclmulqdq");
  SAME_AS_LIBGCC("avx512f");
  SAME_AS_LIBGCC("avx512cd");
  SAME_AS_LIBGCC("avx512vl");
  SAME_AS_LIBGCC("avx512bw");
  SAME_AS_LIBGCC("avx512dq");
  SAME_AS_LIBGCC("avx512ifma");
  SAME_AS_LIBGCC("avx512vbmi");
  SAME_AS_LIBGCC("avx512vbmi2");
  SAME_AS_LIBGCC("avx512vnni");
  SAME_AS_LIBGCC("avx512bitalg");
  SAME_AS_LIBGCC("avx512vpopcntdq");
  SAME_AS_LIBGCC("avx512bf16");
#if !defined(__clang__) /* names clang 14's builtin does not know */
  SAME_AS_LIBGCC("f16c");
  SAME_AS_LIBGCC("lzcnt");
  SAME_AS_LIBGCC("movbe");
  SAME_AS_LIBGCC("sha");
  SAME_AS_LIBGCC("adx");
  SAME_AS_LIBGCC("vaes");
  SAME_AS_LIBGCC("avxvnni");
  SAME_AS_LIBGCC("avx512fp16");
#endif
  CHECK(cpu_has("sse2", NULL) == 1, "every x86-64 CPU has sse2");
  CHECK(cpu_has("sse2", "avx2,sse2") == 0, "pretending sse2 is missing hides it");
  CHECK(cpu_has("sse2", "sse") == 1, "pretending sse is missing does not hide sse2");
  CHECK(cpu_has("avx", "avx2") == cpu_has("avx", NULL), "pretending avx2 is missing does not hide avx");
#endif
  CHECK(cpu_has("no-such-feature", NULL) == 0, "an unknown feature is never vouched for");
}

static void test_check(void) {
  jc_err err = {JC_OK, ""};
  CHECK(cpu_check(NULL, &err) == JC_OK, "the CPU the tests run on runs the build: %s", err.msg);
  /* The last feature the build needs, pretended missing. */
  const char *last = strrchr(cpu_build_features, ' ');
  CHECK(last != NULL, "the build records its features (at least sse sse2 on x86-64): '%s'", cpu_build_features);
  if (!last) return;
  char name[32], lacks[64];
  snprintf(name, sizeof name, "%s", last + 1);
  snprintf(lacks, sizeof lacks, "lacks %s.", name);
  CHECK(cpu_check(name, &err) == JC_ERR_RUNTIME, "pretending %s is missing fails the check", name);
  CHECK(strstr(err.msg, lacks) != NULL, "message says '%s': %s", lacks, err.msg);
  CHECK(strstr(err.msg, cpu_build_target) != NULL, "message names the build's flags '%s': %s", cpu_build_target,
        err.msg);
  CHECK(strstr(err.msg, " for x86-64") != NULL, "message says what the binary needs (x86-64 level + more): %s",
        err.msg);
  CHECK(strstr(err.msg, " has x86-64") != NULL, "message says what the CPU has: %s", err.msg);
  printf("message: %s\n", err.msg);
  /* Without sse2 the CPU is below the x86-64 baseline; the features it has are listed. */
  CHECK(cpu_check("sse2", &err) == JC_ERR_RUNTIME && strstr(err.msg, "has less than x86-64: sse sse3") &&
            strstr(err.msg, "lacks sse2."),
        "pretending sse2 is missing: %s", err.msg);
}

int main(void) {
  test_missing();
  test_has();
  test_check();
  printf("build: %s, needs%s\n", cpu_build_target, cpu_build_features);
  return check_report("test_cpu_check");
}
