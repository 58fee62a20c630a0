/* config.c - INI config parsing with line numbers, typed look-ups. Which sections and keys a
 * model accepts is the net's business (net.c and the layer table, src/layers/registry.c). */
#include "jetcnn/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- building the structure ---- */
static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static jc_section *add_section(jc_config *c, const char *name, int line) {
  if (c->n_sec == c->cap_sec) {
    int cap = c->cap_sec ? 2 * c->cap_sec : 16;
    jc_section *s = realloc(c->sec, (size_t)cap * sizeof *s);
    if (!s) return NULL;
    c->sec = s;
    c->cap_sec = cap;
  }
  jc_section *s = &c->sec[c->n_sec];
  memset(s, 0, sizeof *s);
  s->name = dup_str(name);
  if (!s->name) return NULL;
  s->line = line;
  s->path = c->path;
  s->layer_index = -1;
  c->n_sec++;
  return s;
}

static jc_kv *find_kv(const jc_section *s, const char *key) {
  for (int i = 0; i < s->n_kv; i++)
    if (strcmp(s->kv[i].key, key) == 0) return &s->kv[i];
  return NULL;
}

static jc_kv *add_kv(jc_section *s, const char *key, const char *value, int line) {
  if (s->n_kv == s->cap_kv) {
    int cap = s->cap_kv ? 2 * s->cap_kv : 8;
    jc_kv *kv = realloc(s->kv, (size_t)cap * sizeof *kv);
    if (!kv) return NULL;
    s->kv = kv;
    s->cap_kv = cap;
  }
  jc_kv *kv = &s->kv[s->n_kv];
  kv->key = dup_str(key);
  kv->value = dup_str(value);
  kv->line = line;
  if (!kv->key || !kv->value) {
    free(kv->key);
    free(kv->value);
    return NULL;
  }
  s->n_kv++;
  return kv;
}

/* ---- the reader: feeds inih line by line, counting lines and catching section headers,
 * over-long lines and binary content (libinih itself reports neither line numbers nor
 * empty sections in Debian's build). ---- */
#define LINE_MAX_CHARS (INI_MAX_LINE - 2)

typedef struct {
  jc_config *cfg;
  const char *text;
  size_t len, pos;
  int line;            /* number of the line most recently handed to inih */
  int indented;        /* that line starts with whitespace */
  jc_err *err;
  jc_code rc;          /* first error found by reader or handler */
} parse_state;

static int fail_state(parse_state *st, const char *fmt, const char *a, const char *b) {
  if (st->rc == JC_OK) {
    char msg[600];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    st->rc = jc_fail(st->err, JC_ERR_USAGE, "%s:%d: %s", st->cfg->path, st->line, msg);
  }
  return 0;
}

static char *reader(char *str, int num, void *stream) {
  parse_state *st = stream;
  if (st->rc != JC_OK || st->pos >= st->len) return NULL;
  const char *start = st->text + st->pos;
  const char *nl = memchr(start, '\n', st->len - st->pos);
  size_t line_len = nl ? (size_t)(nl - start) : st->len - st->pos;
  st->pos += line_len + (nl ? 1 : 0);
  st->line++;
  if (line_len > 0 && start[line_len - 1] == '\r') line_len--;
  if (line_len > LINE_MAX_CHARS || line_len + 2 > (size_t)num) {
    char n[32];
    snprintf(n, sizeof n, "%zu", line_len);
    fail_state(st, "line too long (%s characters; at most " "198" ")%s", n, "");
    return NULL;
  }
  for (size_t i = 0; i < line_len; i++) {
    unsigned char ch = (unsigned char)start[i];
    if (ch == 0 || (ch < 32 && ch != '\t')) {
      fail_state(st, "binary or control character in config text%s%s", "", "");
      return NULL;
    }
  }
  memcpy(str, start, line_len);
  str[line_len] = '\n';
  str[line_len + 1] = '\0';
  st->indented = line_len > 0 && (start[0] == ' ' || start[0] == '\t');
  /* A section header: record it here so that sections without keys exist too. */
  const char *p = start, *end = start + line_len;
  while (p < end && isspace((unsigned char)*p)) p++;
  if (p < end && *p == '[') {
    const char *close = memchr(p, ']', (size_t)(end - p));
    if (!close) return str; /* inih reports the syntax error at this line */
    char name[INI_MAX_LINE];
    size_t n = (size_t)(close - p - 1);
    memcpy(name, p + 1, n);
    name[n] = '\0';
    const char *rest = close + 1; /* inih would drop it silently */
    while (rest < end && isspace((unsigned char)*rest)) rest++;
    if (rest < end && *rest != ';' && *rest != '#') {
      char after[INI_MAX_LINE];
      size_t m = (size_t)(end - rest);
      memcpy(after, rest, m);
      after[m] = '\0';
      fail_state(st, "text after the section header [%s]: '%s' (put each key = value on a line of its own)", name,
                 after);
      return NULL;
    }
    jc_section *s = add_section(st->cfg, name, st->line);
    if (!s) {
      st->rc = jc_fail(st->err, JC_ERR_NOMEM, "%s: out of memory", st->cfg->path);
      return NULL;
    }
  }
  return str;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
  parse_state *st = user;
  if (st->cfg->n_sec == 0) return fail_state(st, "key '%s' outside any section%s", name, "");
  jc_section *s = &st->cfg->sec[st->cfg->n_sec - 1];
  if (strcmp(s->name, section) != 0) return fail_state(st, "key '%s' outside section [%s]", name, section);
  if (st->indented && find_kv(s, name))
    return fail_state(st, "indented continuation lines are not supported (value of '%s')%s", name, "");
  if (find_kv(s, name)) return fail_state(st, "duplicate key '%s' in [%s]", name, s->name);
  if (value[0] == '\0') return fail_state(st, "key '%s' has an empty value%s", name, "");
  if (!add_kv(s, name, value, st->line)) {
    st->rc = jc_fail(st->err, JC_ERR_NOMEM, "%s: out of memory", st->cfg->path);
    return 0;
  }
  return 1;
}

/* Structural checks after parsing: exactly one [net], first; layers numbered. */
static jc_code check_structure(jc_config *c, jc_err *err) {
  if (c->n_sec == 0) return jc_fail(err, JC_ERR_USAGE, "%s:1: empty config: no [net] section and no layers", c->path);
  if (strcmp(c->sec[0].name, "net") != 0)
    return jc_fail(err, JC_ERR_USAGE, "%s:%d: the first section must be [net], found [%s]", c->path,
                   c->sec[0].line, c->sec[0].name);
  int layer = 0;
  for (int i = 1; i < c->n_sec; i++) {
    if (strcmp(c->sec[i].name, "net") == 0)
      return jc_fail(err, JC_ERR_USAGE, "%s:%d: second [net] section (the first is at line %d)", c->path,
                     c->sec[i].line, c->sec[0].line);
    c->sec[i].layer_index = layer++;
  }
  if (layer == 0)
    return jc_fail(err, JC_ERR_USAGE, "%s:%d: no layers after [net]: the model needs an output layer", c->path,
                   c->sec[0].line);
  if (layer > 100)
    return jc_fail(err, JC_ERR_USAGE, "%s:%d: %d layers; at most 100 are supported", c->path,
                   c->sec[c->n_sec - 1].line, layer);
  return JC_OK;
}

jc_code config_parse_text(const char *text, const char *name, jc_config **out, jc_err *err) {
  *out = NULL;
  jc_config *c = calloc(1, sizeof *c);
  if (!c || !(c->path = dup_str(name))) {
    free(c);
    return jc_fail(err, JC_ERR_NOMEM, "%s: out of memory", name);
  }
  if (strncmp(text, "\xEF\xBB\xBF", 3) == 0) text += 3; /* a UTF-8 byte order mark (some editors write one) */
  int line = 1;
  for (const char *q = text; *q; q++) {
    if (*q == '\n') line++;
    if (*q == '\r' && q[1] != '\n') {
      config_free(&c);
      return jc_fail(err, JC_ERR_USAGE, "%s:%d: line ends with a lone carriage return (CR-only line endings, as "
                     "classic Mac editors write); save the file with LF (Unix) or CRLF line endings", name, line);
    }
  }
  parse_state st = {.cfg = c, .text = text, .len = strlen(text), .err = err, .rc = JC_OK};
  int bad_line = ini_parse_stream(reader, &st, handler, &st);
  jc_code rc = st.rc;
  if (rc == JC_OK && bad_line > 0)
    rc = jc_fail(err, JC_ERR_USAGE, "%s:%d: syntax error (expected [section], key = value, or a comment)",
                 name, bad_line);
  else if (rc == JC_OK && bad_line < 0)
    rc = jc_fail(err, JC_ERR_NOMEM, "%s: out of memory while parsing", name);
  if (rc == JC_OK) rc = check_structure(c, err);
  if (rc != JC_OK) {
    config_free(&c);
    return rc;
  }
  *out = c;
  return JC_OK;
}

#define CONFIG_FILE_MAX (4u << 20)

jc_code config_load(const char *path, jc_config **out, jc_err *err) {
  *out = NULL;
  /* O_NONBLOCK: a FIFO must not block the open; only regular files are read. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return jc_fail(err, JC_ERR_USAGE, "%s: cannot open config: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    close(fd);
    return jc_fail(err, JC_ERR_USAGE, "%s: %s, not a config file", path,
                   is_dir ? "is a directory" : "is not a regular file (a pipe, device or socket)");
  }
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    return jc_fail(err, JC_ERR_USAGE, "%s: cannot open config: %s", path, strerror(errno));
  }
  char *text = malloc(CONFIG_FILE_MAX + 1);
  if (!text) {
    fclose(f);
    return jc_fail(err, JC_ERR_NOMEM, "%s: out of memory", path);
  }
  size_t n = fread(text, 1, CONFIG_FILE_MAX + 1, f);
  int read_error = ferror(f);
  fclose(f);
  jc_code rc = JC_OK;
  if (read_error) rc = jc_fail(err, JC_ERR_USAGE, "%s: read error", path);
  else if (n > CONFIG_FILE_MAX) rc = jc_fail(err, JC_ERR_USAGE, "%s: config larger than 4 MiB", path);
  else if (memchr(text, '\0', n)) rc = jc_fail(err, JC_ERR_USAGE, "%s: binary file (NUL bytes), not a config", path);
  if (rc == JC_OK) {
    text[n] = '\0';
    rc = config_parse_text(text, path, out, err);
  }
  free(text);
  return rc;
}

jc_code config_set_net(jc_config *cfg, const char *assignment, jc_err *err) {
  const char *eq = strchr(assignment, '=');
  if (!eq || eq == assignment)
    return jc_fail(err, JC_ERR_USAGE, "--set %s: expected KEY=VALUE", assignment);
  char key[128];
  size_t n = (size_t)(eq - assignment);
  if (n >= sizeof key) return jc_fail(err, JC_ERR_USAGE, "--set %s: key too long", assignment);
  memcpy(key, assignment, n);
  key[n] = '\0';
  const char *value = eq + 1;
  if (!*value) return jc_fail(err, JC_ERR_USAGE, "--set %s: empty value", assignment);
  jc_section *net = &cfg->sec[0];
  jc_kv *kv = find_kv(net, key);
  if (kv) {
    char *v = dup_str(value);
    if (!v) return jc_fail(err, JC_ERR_NOMEM, "out of memory");
    free(kv->value);
    kv->value = v;
    kv->line = 0;
    return JC_OK;
  }
  if (!add_kv(net, key, value, 0)) return jc_fail(err, JC_ERR_NOMEM, "out of memory");
  return JC_OK;
}

char *config_to_text(const jc_config *cfg, jc_err *err) {
  size_t cap = 256;
  for (int i = 0; i < cfg->n_sec; i++) {
    cap += strlen(cfg->sec[i].name) + 8;
    for (int j = 0; j < cfg->sec[i].n_kv; j++)
      cap += strlen(cfg->sec[i].kv[j].key) + strlen(cfg->sec[i].kv[j].value) + 8;
  }
  char *out = jc_malloc(cap, err);
  if (!out) return NULL;
  size_t pos = 0;
  for (int i = 0; i < cfg->n_sec; i++) {
    pos += (size_t)snprintf(out + pos, cap - pos, "%s[%s]\n", i ? "\n" : "", cfg->sec[i].name);
    for (int j = 0; j < cfg->sec[i].n_kv; j++)
      pos += (size_t)snprintf(out + pos, cap - pos, "%s = %s\n", cfg->sec[i].kv[j].key, cfg->sec[i].kv[j].value);
  }
  return out;
}

unsigned long long config_hash(const jc_config *cfg) {
  char *text = config_to_text(cfg, NULL);
  unsigned long long h = 1469598103934665603ULL;
  for (const char *p = text; p && *p; p++) {
    h ^= (unsigned char)*p;
    h *= 1099511628211ULL;
  }
  free(text);
  return h;
}

void config_free(jc_config **cfg) {
  if (!cfg || !*cfg) return;
  jc_config *c = *cfg;
  for (int i = 0; i < c->n_sec; i++) {
    for (int j = 0; j < c->sec[i].n_kv; j++) {
      free(c->sec[i].kv[j].key);
      free(c->sec[i].kv[j].value);
    }
    free(c->sec[i].kv);
    free(c->sec[i].name);
  }
  free(c->sec);
  free(c->path);
  free(c);
  *cfg = NULL;
}

const jc_section *config_net(const jc_config *cfg) {
  return cfg && cfg->n_sec > 0 && strcmp(cfg->sec[0].name, "net") == 0 ? &cfg->sec[0] : NULL;
}

/* ---- typed look-ups ---- */
int cfg_has(const jc_section *s, const char *key) { return find_kv(s, key) != NULL; }

int cfg_line(const jc_section *s, const char *key) {
  const jc_kv *kv = find_kv(s, key);
  return kv ? kv->line : s->line;
}

/* "FILE:LINE" of key, or "--set KEY" for an override. */
static void where(const jc_section *s, const jc_kv *kv, char *buf, size_t n) {
  if (kv && kv->line == 0) snprintf(buf, n, "--set %s", kv->key);
  else snprintf(buf, n, "%s:%d", s->path, kv ? kv->line : s->line);
}

jc_where cfg_where(const jc_section *s, const char *key) {
  jc_where w;
  where(s, key ? find_kv(s, key) : NULL, w.s, sizeof w.s);
  return w;
}

jc_code cfg_require(const jc_section *s, const char *key, jc_err *err) {
  if (find_kv(s, key)) return JC_OK;
  return jc_fail(err, JC_ERR_USAGE, "%s:%d: [%s] needs key '%s'", s->path, s->line, s->name, key);
}

jc_code cfg_int(const jc_section *s, const char *key, long def, long lo, long hi, long *out, jc_err *err) {
  const jc_kv *kv = find_kv(s, key);
  if (!kv) {
    *out = def;
    return JC_OK;
  }
  char at[256];
  where(s, kv, at, sizeof at);
  char *end = NULL;
  errno = 0;
  long v = strtol(kv->value, &end, 10);
  if (end == kv->value || *end != '\0')
    return jc_fail(err, JC_ERR_USAGE, "%s: %s = '%s' is not an integer", at, key, kv->value);
  if (errno == ERANGE || v < lo || v > hi)
    return jc_fail(err, JC_ERR_USAGE, "%s: %s = %s is out of range [%ld, %ld]", at, key, kv->value, lo, hi);
  *out = v;
  return JC_OK;
}

jc_code cfg_float(const jc_section *s, const char *key, double def, double lo, double hi, double *out,
                  jc_err *err) {
  const jc_kv *kv = find_kv(s, key);
  if (!kv) {
    *out = def;
    return JC_OK;
  }
  char at[256];
  where(s, kv, at, sizeof at);
  char *end = NULL;
  errno = 0;
  double v = strtod(kv->value, &end);
  const int range = errno == ERANGE;
  if (end == kv->value || *end != '\0' || (!isfinite(v) && !range))
    return jc_fail(err, JC_ERR_USAGE, "%s: %s = '%s' is not a number", at, key, kv->value);
  if (range && !isfinite(v))
    return jc_fail(err, JC_ERR_USAGE, "%s: %s = %s is too large for a double (it overflows); the range is [%g, %g]",
                   at, key, kv->value, lo, hi);
  if (range && fabs(v) < 1.0)
    return jc_fail(err, JC_ERR_USAGE, "%s: %s = %s is too small for a double (it underflows to %g); the range is "
                   "[%g, %g]", at, key, kv->value, v, lo, hi);
  if (v < lo || v > hi)
    return jc_fail(err, JC_ERR_USAGE, "%s: %s = %s is out of range [%g, %g]", at, key, kv->value, lo, hi);
  *out = v;
  return JC_OK;
}

jc_code cfg_enum(const jc_section *s, const char *key, const char *def, const char *const *choices, int *out,
                 jc_err *err) {
  const jc_kv *kv = find_kv(s, key);
  const char *v = kv ? kv->value : def;
  for (int i = 0; choices[i]; i++)
    if (strcmp(choices[i], v) == 0) {
      *out = i;
      return JC_OK;
    }
  char at[256], list[512] = "";
  where(s, kv, at, sizeof at);
  for (int i = 0; choices[i]; i++) {
    size_t len = strlen(list);
    snprintf(list + len, sizeof list - len, "%s%s", i ? " | " : "", choices[i]);
  }
  return jc_fail(err, JC_ERR_USAGE, "%s: %s = '%s' is not one of %s", at, key, v, list);
}

const char *cfg_str(const jc_section *s, const char *key, const char *def) {
  const jc_kv *kv = find_kv(s, key);
  return kv ? kv->value : def;
}
