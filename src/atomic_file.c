/* atomic_file.c - plain files written under PATH.tmp and renamed; outputs checked against
 * inputs (see atomic_file.h). */
#include "jetcnn/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

jc_code atomic_file_open(atomic_file *af, const char *path, jc_err *err) {
  memset(af, 0, sizeof *af);
  if (strlen(path) >= sizeof af->path)
    return jc_fail(err, JC_ERR_USAGE, "%.64s...: output path longer than %d characters", path, ATOMIC_FILE_PATH_MAX - 1);
  snprintf(af->path, sizeof af->path, "%s", path);
  snprintf(af->tmp, sizeof af->tmp, "%s.tmp", path);
  /* O_NOFOLLOW: a symbolic link planted at PATH.tmp is refused, not written through. */
  int fd = open(af->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0)
    return jc_fail(err, JC_ERR_IO, "%s: cannot create: %s", af->tmp,
                   errno == ELOOP ? "it is a symbolic link (remove it)" : strerror(errno));
  af->f = fdopen(fd, "w");
  if (!af->f) {
    int e = errno;
    close(fd);
    unlink(af->tmp);
    return jc_fail(err, JC_ERR_IO, "%s: cannot open a stream: %s", af->tmp, strerror(e));
  }
  return JC_OK;
}

/* fsync the directory holding path, so that a rename into it is durable. File systems that
 * cannot sync a directory (EINVAL) are accepted. */
static int sync_dir(const char *path) {
  char dir[ATOMIC_FILE_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == dir) dir[1] = '\0';
  else *slash = '\0';
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd) == 0 || errno == EINVAL ? 0 : -1;
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

jc_code atomic_file_commit(atomic_file *af, jc_err *err) {
  if (!af->f) return jc_fail(err, JC_ERR_RUNTIME, "%s: atomic_file_commit without an open file", af->path);
  FILE *f = af->f;
  af->f = NULL;
  jc_code rc = JC_OK;
  errno = 0;
  if (ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0)
    rc = jc_fail(err, JC_ERR_IO, "%s: write failed: %s", af->tmp, errno ? strerror(errno) : "stream error");
  errno = 0;
  if (fclose(f) != 0 && rc == JC_OK)
    rc = jc_fail(err, JC_ERR_IO, "%s: write failed: %s", af->tmp, errno ? strerror(errno) : "close error");
  if (rc == JC_OK && rename(af->tmp, af->path) != 0)
    rc = jc_fail(err, JC_ERR_IO, "%s: cannot rename %s to it: %s", af->path, af->tmp, strerror(errno));
  if (rc != JC_OK) {
    unlink(af->tmp);
    return rc;
  }
  if (sync_dir(af->path) != 0)
    return jc_fail(err, JC_ERR_IO, "%s: written, but its directory cannot be synced: %s", af->path, strerror(errno));
  return JC_OK;
}

void atomic_file_abandon(atomic_file *af) {
  if (!af->f) return;
  fclose(af->f);
  af->f = NULL;
  unlink(af->tmp);
}

jc_code atomic_file_write(const char *path, const void *data, size_t size, jc_err *err) {
  atomic_file af;
  JC_TRY(atomic_file_open(&af, path, err));
  if (size > 0 && fwrite(data, 1, size, af.f) != size) {
    int e = errno;
    atomic_file_abandon(&af);
    return jc_fail(err, JC_ERR_IO, "%s: write failed: %s", af.tmp, strerror(e));
  }
  return atomic_file_commit(&af, err);
}

/* ---- outputs that are inputs ------------------------------------------------------------ */

/* The absolute name without symbolic links that path has or would have once created: a
 * symbolic link at path itself is followed (also a dangling one, at most 40 times), then the
 * directory part is resolved by realpath() and the last component appended. Returns 0 and
 * fills out (PATH_MAX bytes), or -1 when the directory does not exist. */
static int resolve(const char *path, char *out) {
  char cur[PATH_MAX], target[PATH_MAX];
  if (strlen(path) >= sizeof cur) return -1;
  snprintf(cur, sizeof cur, "%s", path);
  for (int hops = 0; hops < 40; hops++) {
    struct stat st;
    if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) break;
    ssize_t len = readlink(cur, target, sizeof target - 1);
    if (len < 0) return -1;
    target[len] = '\0';
    if (target[0] == '/') {
      snprintf(cur, sizeof cur, "%s", target);
    } else { /* relative to the link's directory */
      char *slash = strrchr(cur, '/');
      if (slash) {
        slash[1] = '\0';
        if (strlen(cur) + strlen(target) >= sizeof cur) return -1;
        strcat(cur, target);
      } else {
        snprintf(cur, sizeof cur, "%s", target);
      }
    }
  }
  if (realpath(cur, out)) return 0;
  /* Not there yet: resolve the directory, append the name. */
  char dir[PATH_MAX], *slash = strrchr(cur, '/');
  const char *base = slash ? slash + 1 : cur;
  if (slash == cur) snprintf(dir, sizeof dir, "/");
  else if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - cur), cur);
  else snprintf(dir, sizeof dir, ".");
  if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) return -1;
  char real_dir[PATH_MAX];
  if (!realpath(dir, real_dir)) return -1;
  if (strlen(real_dir) + 1 + strlen(base) >= PATH_MAX) return -1;
  snprintf(out, PATH_MAX, "%s%s%s", real_dir, strcmp(real_dir, "/") == 0 ? "" : "/", base);
  return 0;
}

int atomic_file_same(const char *a, const char *b) {
  struct stat sa, sb;
  int has_a = stat(a, &sa) == 0, has_b = stat(b, &sb) == 0;
  if (has_a && has_b) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  /* Otherwise compare names (normally different when only one exists; equal names of two
   * outputs not written yet are the same file to be). */
  char ra[PATH_MAX], rb[PATH_MAX];
  return resolve(a, ra) == 0 && resolve(b, rb) == 0 && strcmp(ra, rb) == 0;
}

jc_code atomic_file_refuse_input(const char *output, const char *const *inputs, size_t n_inputs, jc_err *err) {
  char tmp[ATOMIC_FILE_PATH_MAX + 4];
  snprintf(tmp, sizeof tmp, "%s.tmp", output);
  for (size_t i = 0; i < n_inputs; i++) {
    if (atomic_file_same(output, inputs[i]))
      return jc_fail(err, JC_ERR_USAGE, "%s: is the same file as the input %s; refusing to overwrite an input",
                     output, inputs[i]);
    if (atomic_file_same(tmp, inputs[i]))
      return jc_fail(err, JC_ERR_USAGE, "%s: its temporary file %s is the input %s; refusing to overwrite an input",
                     output, tmp, inputs[i]);
  }
  return JC_OK;
}
