/* config.h - the INI config file that defines a model and its training schedule.
 *
 * One section per layer, in order, after one [net] section. Parsed with libinih; every
 * key knows its line, so every message reads "FILE:LINE: problem". This module knows the
 * syntax only (keys given twice are errors); which sections and keys exist is checked when
 * the net is built (net.c's [net] keys, the layer table in src/layers/registry.c).
 */
#ifndef JETCNN_CONFIG_H
#define JETCNN_CONFIG_H

#include <stddef.h>

#include "jetcnn/error.h"

typedef struct {
  char *key;
  char *value;
  int line; /* 0 for a --set override */
} jc_kv;

typedef struct {
  char *name;         /* section name, e.g. "conv" */
  int line;           /* line of the [name] header */
  int layer_index;    /* zero-based index among layer sections; -1 for [net] */
  const char *path;   /* borrowed from the owning jc_config */
  jc_kv *kv;
  int n_kv, cap_kv;
} jc_section;

typedef struct {
  char *path;         /* file name used in messages */
  jc_section *sec;
  int n_sec, cap_sec;
} jc_config;

/* Parse the config file at path. *out is owned by the caller (config_free). Errors are
 * JC_ERR_USAGE with "PATH:LINE: ..." (over-long lines, syntax, duplicate keys, missing or
 * second [net]). */
jc_code config_load(const char *path, jc_config **out, jc_err *err);

/* Parse config text held in memory (e.g. from a checkpoint); `name` is used in messages. */
jc_code config_parse_text(const char *text, const char *name, jc_config **out, jc_err *err);

/* Apply a command-line override "key=value" to the [net] section (replacing or adding
 * the key; net_create refuses a key [net] does not know). */
jc_code config_set_net(jc_config *cfg, const char *assignment, jc_err *err);

/* The config as INI text (what was actually used, overrides included). Caller frees. */
char *config_to_text(const jc_config *cfg, jc_err *err);

/* 64-bit FNV-1a hash of config_to_text(); identifies a config in checkpoints. */
unsigned long long config_hash(const jc_config *cfg);

/* Free cfg and set *cfg = NULL; accepts NULL. */
void config_free(jc_config **cfg);

/* The [net] section, or NULL. Borrowed from cfg. */
const jc_section *config_net(const jc_config *cfg);

/* ---- typed look-ups: the key's value checked for syntax and range, or the default
 * when absent. Messages name FILE:LINE of the key (or of the section when absent). ---- */

/* 1 if the section holds key. */
int cfg_has(const jc_section *s, const char *key);
/* Fail unless key is present: "FILE:LINE: [sec] needs key 'k'". */
jc_code cfg_require(const jc_section *s, const char *key, jc_err *err);
jc_code cfg_int(const jc_section *s, const char *key, long def, long lo, long hi, long *out, jc_err *err);
jc_code cfg_float(const jc_section *s, const char *key, double def, double lo, double hi,
                  double *out, jc_err *err);
/* One of `choices` (NULL-terminated); *out is its index. */
jc_code cfg_enum(const jc_section *s, const char *key, const char *def, const char *const *choices,
                 int *out, jc_err *err);
/* Raw string (borrowed from s), or def when absent. */
const char *cfg_str(const jc_section *s, const char *key, const char *def);
/* Line of key in s (or of the section header when absent; 0 for a --set override). */
int cfg_line(const jc_section *s, const char *key);

/* Where key of s was given, for messages: "FILE:LINE" (the section's header line when the
 * key is absent or NULL) or "--set KEY" for a command-line override. Use .s directly as
 * a printf argument: the returned temporary lives until the end of that full expression. */
typedef struct {
  char s[320];
} jc_where;
jc_where cfg_where(const jc_section *s, const char *key);

#endif
