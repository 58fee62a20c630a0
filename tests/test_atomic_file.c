/* test_atomic_file.c - atomic_file_* on real files in a fresh temporary directory: commit,
 * replace, abandon, a write that fails half-way (a file-size limit, as a full disk), refused
 * symbolic links at PATH.tmp, and the same-file check through hard links, symbolic links,
 * other spellings of a name and names not created yet. Exits non-zero on the first failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jetcnn/atomic_file.h"

#include "gen_check.h"


static char dir[256];

static const char *in_dir(const char *name) {
  static char buf[64][512];
  static int k = 0;
  k = (k + 1) % 64;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
  return buf[k];
}

/* The content of path ("" when missing), into a static buffer. */
static const char *content(const char *path) {
  static char buf[4096];
  buf[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return "<missing>";
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static int exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

static void writing(void) {
  jc_err err;
  jc_err_clear(&err);
  const char *out = in_dir("a.csv"), *tmp = in_dir("a.csv.tmp");
  atomic_file af;
  CHECK(atomic_file_open(&af, out, &err) == JC_OK, "open: %s", err.msg);
  CHECK(exists(tmp) && !exists(out), "open must create only PATH.tmp");
  fprintf(af.f, "first\n");
  CHECK(atomic_file_commit(&af, &err) == JC_OK, "commit: %s", err.msg);
  CHECK(strcmp(content(out), "first\n") == 0, "content after commit: '%s'", content(out));
  CHECK(!exists(tmp), "PATH.tmp left after commit");
  CHECK(af.f == NULL, "af.f not NULL after commit");

  /* replace, then abandon a third version: the second stays */
  CHECK(atomic_file_write(out, "second\n", 7, &err) == JC_OK, "write: %s", err.msg);
  CHECK(strcmp(content(out), "second\n") == 0, "content after replace: '%s'", content(out));
  CHECK(atomic_file_open(&af, out, &err) == JC_OK, "open: %s", err.msg);
  fprintf(af.f, "third\n");
  atomic_file_abandon(&af);
  atomic_file_abandon(&af); /* twice is harmless */
  CHECK(strcmp(content(out), "second\n") == 0, "abandon changed PATH: '%s'", content(out));
  CHECK(!exists(tmp), "PATH.tmp left after abandon");

  /* a directory that does not exist */
  jc_err_clear(&err);
  CHECK(atomic_file_open(&af, in_dir("no/such/x.json"), &err) == JC_ERR_IO, "open in a missing directory succeeded");
  CHECK(strstr(err.msg, "no/such/x.json.tmp") && strstr(err.msg, "No such file"), "message: %s", err.msg);
  CHECK(af.f == NULL, "af.f set after a failed open");

  /* a symbolic link planted at PATH.tmp is refused, its target untouched */
  const char *victim = in_dir("victim"), *trap = in_dir("b.csv.tmp");
  CHECK(atomic_file_write(victim, "keep\n", 5, &err) == JC_OK, "write: %s", err.msg);
  CHECK(symlink(victim, trap) == 0, "symlink: %s", strerror(errno));
  jc_err_clear(&err);
  CHECK(atomic_file_open(&af, in_dir("b.csv"), &err) == JC_ERR_IO, "open through a symlink at PATH.tmp succeeded");
  CHECK(strstr(err.msg, "symbolic link"), "message: %s", err.msg);
  CHECK(strcmp(content(victim), "keep\n") == 0, "the symlink's target was written");
  unlink(trap);
}

/* A write that fails half-way (RLIMIT_FSIZE, like a full disk): exit code JC_ERR_IO, the
 * earlier file intact, no PATH.tmp. */
static void failing_write(void) {
  jc_err err;
  jc_err_clear(&err);
  const char *out = in_dir("big.csv");
  CHECK(atomic_file_write(out, "old\n", 4, &err) == JC_OK, "write: %s", err.msg);
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 10000;
  CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit: %s", strerror(errno));
  atomic_file af;
  CHECK(atomic_file_open(&af, out, &err) == JC_OK, "open: %s", err.msg);
  for (int i = 0; i < 5000; i++) fprintf(af.f, "%d,0.123456789\n", i);
  jc_err_clear(&err);
  jc_code rc = atomic_file_commit(&af, &err);
  setrlimit(RLIMIT_FSIZE, &old);
  CHECK(rc == JC_ERR_IO, "commit of a failed write returned %d", (int)rc);
  CHECK(strstr(err.msg, "big.csv.tmp: write failed"), "message: %s", err.msg);
  CHECK(strcmp(content(out), "old\n") == 0, "the earlier file was damaged: '%.20s'", content(out));
  CHECK(!exists(in_dir("big.csv.tmp")), "PATH.tmp left after a failed write");

  /* the one-shot form fails the same way */
  lim.rlim_cur = 100;
  setrlimit(RLIMIT_FSIZE, &lim);
  char block[1000];
  memset(block, 'x', sizeof block);
  jc_err_clear(&err);
  rc = atomic_file_write(out, block, sizeof block, &err);
  setrlimit(RLIMIT_FSIZE, &old);
  CHECK(rc == JC_ERR_IO && strcmp(content(out), "old\n") == 0 && !exists(in_dir("big.csv.tmp")),
        "one-shot failed write: rc %d, '%s'", (int)rc, err.msg);
}

static void same_file(void) {
  jc_err err;
  const char *in = in_dir("s.h5");
  CHECK(atomic_file_write(in, "scores\n", 7, &err) == JC_OK, "write: %s", err.msg);
  CHECK(mkdir(in_dir("sub"), 0777) == 0, "mkdir: %s", strerror(errno));
  CHECK(link(in, in_dir("hard.h5")) == 0, "link: %s", strerror(errno));
  CHECK(symlink(in, in_dir("sub/soft.h5")) == 0, "symlink: %s", strerror(errno));
  CHECK(symlink("../s.h5", in_dir("sub/rel.h5")) == 0, "symlink: %s", strerror(errno));
  CHECK(symlink(in_dir("sub/soft.h5"), in_dir("chain.h5")) == 0, "symlink: %s", strerror(errno));
  CHECK(symlink("new.csv", in_dir("dangling.csv")) == 0, "symlink: %s", strerror(errno));

  struct { const char *a, *b; int same; } cases[] = {
      {in, in, 1},
      {in, in_dir("hard.h5"), 1},                 /* hard link */
      {in_dir("sub/soft.h5"), in, 1},             /* absolute symbolic link */
      {in_dir("sub/rel.h5"), in, 1},              /* relative symbolic link */
      {in_dir("chain.h5"), in, 1},                /* link to a link */
      {in_dir("sub/../s.h5"), in, 1},             /* another spelling */
      {in_dir("other.h5"), in, 0},                /* not there yet, another name */
      {in_dir("new.csv"), in_dir("sub/../new.csv"), 1}, /* neither exists yet: names compared */
      {in_dir("dangling.csv"), in_dir("new.csv"), 1},   /* a dangling link to a name not written yet */
      {in_dir("new.csv"), in_dir("new.json"), 0},
      {in_dir("sub"), in, 0},
      {in_dir("no/dir/x"), in_dir("no/dir/x"), 0}, /* cannot be resolved: not known to be the same */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    CHECK(atomic_file_same(cases[k].a, cases[k].b) == cases[k].same && atomic_file_same(cases[k].b, cases[k].a) == cases[k].same,
          "atomic_file_same(%s, %s) != %d", cases[k].a, cases[k].b, cases[k].same);

  const char *inputs[] = {in_dir("other.h5"), in};
  jc_err_clear(&err);
  CHECK(atomic_file_refuse_input(in_dir("sub/soft.h5"), inputs, 2, &err) == JC_ERR_USAGE, "output = input via link accepted");
  CHECK(strstr(err.msg, "sub/soft.h5: is the same file as the input") && strstr(err.msg, "/s.h5"), "message: %s", err.msg);
  jc_err_clear(&err);
  CHECK(atomic_file_refuse_input(in_dir("out.csv"), inputs, 2, &err) == JC_OK, "a new output refused: %s", err.msg);
  /* the temporary name of the output is an input */
  const char *tmp_input[] = {in_dir("x.csv.tmp")};
  CHECK(atomic_file_write(tmp_input[0], "data\n", 5, &err) == JC_OK, "write: %s", err.msg);
  jc_err_clear(&err);
  CHECK(atomic_file_refuse_input(in_dir("x.csv"), tmp_input, 1, &err) == JC_ERR_USAGE, "output whose .tmp is an input accepted");
  CHECK(strstr(err.msg, "temporary file"), "message: %s", err.msg);
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/jetcnn-atomic-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(dir)) {
    fprintf(stderr, "FAIL: mkdtemp: %s\n", strerror(errno));
    return 1;
  }
  writing();
  failing_write();
  same_file();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
  return check_report("test_atomic_file");
}
