/* checkpoint.c - write and read checkpoint.h5 (see checkpoint.h, docs/formats.md). */
#include "jetcnn/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"

static const char *const OPT_NAMES[] = {"sgd", "momentum", "nesterov", "adam", "adamw"};

/* A scalar fixed-length string dataset (no 64 KiB limit, unlike an attribute). */
static jc_code write_text(hid_t loc, const char *name, const char *text, jc_err *err) {
  jc_code rc = JC_OK;
  hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR), dset = H5I_INVALID_HID;
  if (type >= 0 && space >= 0 && H5Tset_size(type, strlen(text) + 1) >= 0 && H5Tset_strpad(type, H5T_STR_NULLTERM) >= 0)
    dset = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (dset < 0 || H5Dwrite(dset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, text) < 0)
    rc = h5io_fail(err, JC_ERR_IO, "cannot write dataset %s", name);
  if (dset >= 0) H5Dclose(dset);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  return rc;
}

/* The text of dataset name (caller frees), or NULL with *out untouched when it is absent. */
static jc_code read_text(hid_t loc, const char *path, const char *name, char **out, jc_err *err) {
  if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return JC_OK;
  }
  jc_code rc = JC_OK;
  hid_t dset = h5io_open_dataset(loc, path, name, H5P_DEFAULT, err), ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
  if (dset < 0) return JC_ERR_DATA;
  ftype = H5Dget_type(dset);
  if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING || H5Tis_variable_str(ftype) > 0) {
    rc = jc_fail(err, JC_ERR_DATA, "%s: dataset %s is not a fixed-length string", path, name);
  } else {
    size_t n = H5Tget_size(ftype);
    char *text = jc_calloc(n + 1, 1, err);
    mtype = H5Tcopy(ftype);
    if (!text) rc = JC_ERR_NOMEM;
    else if (mtype < 0 || H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, text) < 0)
      rc = h5io_fail(err, JC_ERR_DATA, "%s: cannot read dataset %s", path, name);
    if (rc == JC_OK) *out = text;
    else free(text);
  }
  if (mtype >= 0) H5Tclose(mtype);
  if (ftype >= 0) H5Tclose(ftype);
  if (dset >= 0) H5Dclose(dset);
  return rc;
}

/* Every weight finite, or an error naming the first layer that is not. */
static jc_code check_finite(const jc_net *net, const float *params, jc_err *err) {
  for (int i = 0; i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    for (size_t j = 0; j < l->n_kernel + l->n_bias; j++)
      if (!isfinite(params[l->offset + j]))
        return jc_fail(err, JC_ERR_RUNTIME, "the weights of layer%02d (%s) %s are not finite (NaN or Inf); "
                       "checkpoint not written, the last good one is kept", l->index, l->ops->section,
                       j < l->n_kernel ? "kernel" : "bias");
  }
  return JC_OK;
}

static jc_code write_contents(hid_t f, const jc_net *net, const float *params, const jc_optim *opt,
                              const jc_progress *progress, jc_err *err) {
  char *text = config_to_text(net->cfg, err);
  if (!text) return err->code;
  jc_code rc = h5io_write_attr_str(f, "format", CHECKPOINT_FORMAT, err);
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "config", text, err);
  free(text);
  char buf[64];
  snprintf(buf, sizeof buf, "%016llx", config_hash(net->cfg));
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "config_hash", buf, err);
  if (rc == JC_OK) rc = h5io_write_attr_str(f, "jetcnn_version", JETCNN_VERSION, err);
  hid_t g = rc == JC_OK ? H5Gcreate2(f, "weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : H5I_INVALID_HID;
  if (rc == JC_OK && g < 0) rc = h5io_fail(err, JC_ERR_IO, "cannot create group /weights");
  for (int i = 0; rc == JC_OK && i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    if (l->n_kernel == 0) continue;
    char name[32];
    snprintf(name, sizeof name, "layer%02d", l->index);
    hid_t lg = H5Gcreate2(g, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (lg < 0) {
      rc = h5io_fail(err, JC_ERR_IO, "cannot create group /weights/%s", name);
      break;
    }
    hsize_t kdims[4], bdims[1] = {l->n_bias};
    for (int d = 0; d < l->kernel_ndims; d++) kdims[d] = (hsize_t)l->kernel_shape[d];
    rc = h5io_write_full(lg, "kernel", H5T_NATIVE_FLOAT, l->kernel_ndims, kdims, params + l->offset, err);
    if (rc == JC_OK)
      rc = h5io_write_full(lg, "bias", H5T_NATIVE_FLOAT, 1, bdims, params + l->offset + l->n_kernel, err);
    if (rc == JC_OK) rc = h5io_write_attr_str(lg, "section", l->ops->section, err);
    H5Gclose(lg);
  }
  if (g >= 0) H5Gclose(g);
  hid_t s = rc == JC_OK ? H5Gcreate2(f, "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : H5I_INVALID_HID;
  if (rc == JC_OK && s < 0) rc = h5io_fail(err, JC_ERR_IO, "cannot create group /state");
  hsize_t one = 1, three = 3, n = net->n_params;
  const jc_progress none = {0, 0, 0, {0, 0, 0}, 0, NULL}, *p = progress ? progress : &none;
  if (rc == JC_OK) rc = h5io_write_full(s, "epoch", H5T_NATIVE_INT64, 1, &one, &p->epoch, err);
  if (rc == JC_OK) rc = h5io_write_full(s, "step", H5T_NATIVE_INT64, 1, &one, &p->step, err);
  if (rc == JC_OK) rc = h5io_write_full(s, "epoch_step", H5T_NATIVE_INT64, 1, &one, &p->epoch_step, err);
  if (rc == JC_OK) rc = h5io_write_full(s, "epoch_sums", H5T_NATIVE_DOUBLE, 1, &three, p->epoch_sums, err);
  if (rc == JC_OK) rc = h5io_write_full(s, "train_jets", H5T_NATIVE_INT64, 1, &one, &p->train_jets, err);
  if (rc == JC_OK && p->metrics) rc = write_text(s, "metrics_csv", p->metrics, err);
  if (rc == JC_OK && opt) {
    rc = h5io_write_attr_str(s, "optimizer", OPT_NAMES[opt->kind], err);
    if (rc == JC_OK) rc = h5io_write_full(s, "optimizer_t", H5T_NATIVE_INT64, 1, &one, &opt->t, err);
    if (rc == JC_OK && opt->m) rc = h5io_write_full(s, "optimizer_m", H5T_NATIVE_FLOAT, 1, &n, opt->m, err);
    if (rc == JC_OK && opt->v) rc = h5io_write_full(s, "optimizer_v", H5T_NATIVE_FLOAT, 1, &n, opt->v, err);
  }
  if (s >= 0) H5Gclose(s);
  return rc;
}

jc_code checkpoint_write(const char *path, const jc_net *net, const float *params, const jc_optim *opt,
                         const jc_progress *progress, MPI_Comm comm, jc_err *err) {
  jc_code rc = JC_OK;
  if (dist_rank(comm) == 0 && check_finite(net, params, err) != JC_OK) rc = err->code;
  if (rc == JC_OK && dist_rank(comm) == 0) {
    hid_t f = h5io_create_tmp(path, MPI_COMM_SELF, err);
    if (f < 0) rc = err->code;
    if (rc == JC_OK && write_contents(f, net, params, opt, progress, err) != JC_OK)
      rc = jc_prefix(err, "%s.tmp: ", path); /* dataset messages do not name the file */
    if (rc == JC_OK) rc = h5io_commit(&f, path, MPI_COMM_SELF, err);
    else h5io_abandon(&f, path, MPI_COMM_SELF);
  }
  return dist_agree(comm, rc, err);
}

char *checkpoint_read_config(const char *path, MPI_Comm comm, jc_err *err) {
  char *text = NULL;
  hid_t f = h5io_open_read(path, comm, err);
  jc_code rc = f < 0 ? err->code : JC_OK;
  if (rc == JC_OK) rc = h5io_check_format(f, path, CHECKPOINT_FORMAT, err);
  if (rc == JC_OK) {
    text = h5io_read_attr_str(f, "config", err);
    if (!text) rc = jc_prefix(err, "%s: ", path);
  }
  if (f >= 0) H5Fclose(f);
  rc = dist_agree(comm, rc, err);
  if (rc != JC_OK) {
    free(text);
    return NULL;
  }
  return text;
}

/* Read dataset loc/name of exactly `count` floats with the expected shape. */
static jc_code read_checked(hid_t loc, const char *path, const char *where, const char *name, int ndims,
                            const int *shape, float *out, jc_err *err) {
  int nd;
  hsize_t dims[4];
  char full[96];
  snprintf(full, sizeof full, "%s/%s", where, name);
  JC_TRY(h5io_dataset_info(loc, path, full, &nd, dims, NULL, NULL, err));
  int ok = nd == ndims;
  for (int d = 0; ok && d < nd; d++) ok = dims[d] == (hsize_t)shape[d];
  if (!ok) {
    char want[64] = "", got[64] = "";
    for (int d = 0; d < ndims; d++)
      snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? "," : "", shape[d]);
    for (int d = 0; d < nd; d++)
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", d ? "," : "", (unsigned long long)dims[d]);
    return jc_fail(err, JC_ERR_DATA, "%s: dataset %s has shape (%s) but the config expects (%s)", path, full, got, want);
  }
  JC_TRY(h5io_read_full(loc, path, full, H5T_NATIVE_FLOAT, out, err));
  /* A NaN or Inf weight would give NaN scores in predict and a hopeless --init: refuse it. */
  size_t n = 1;
  for (int d = 0; d < nd; d++) n *= (size_t)dims[d];
  for (size_t i = 0; i < n; i++)
    if (!isfinite(out[i]))
      return jc_fail(err, JC_ERR_DATA, "%s: dataset %s holds a non-finite value (%s at index %zu): the checkpoint is "
                     "damaged or comes from a diverged run", path, full, isnan(out[i]) ? "NaN" : "Inf", i);
  return JC_OK;
}

jc_code checkpoint_read(const char *path, const jc_net *net, float *params, jc_optim *opt, jc_progress *progress,
                        MPI_Comm comm, jc_err *err) {
  hid_t f = h5io_open_read(path, comm, err);
  jc_code rc = f < 0 ? err->code : JC_OK;
  if (rc == JC_OK) rc = h5io_check_format(f, path, CHECKPOINT_FORMAT, err);
  for (int i = 0; rc == JC_OK && i < net->n_layers; i++) {
    const jc_layer *l = &net->layers[i];
    if (l->n_kernel == 0) continue;
    char where[32];
    snprintf(where, sizeof where, "/weights/layer%02d", l->index);
    int bshape[1] = {(int)l->n_bias};
    rc = read_checked(f, path, where, "kernel", l->kernel_ndims, l->kernel_shape, params + l->offset, err);
    if (rc == JC_OK) rc = read_checked(f, path, where, "bias", 1, bshape, params + l->offset + l->n_kernel, err);
  }
  if (rc == JC_OK && progress) {
    *progress = (jc_progress){0, 0, 0, {0, 0, 0}, 0, NULL};
    rc = h5io_read_full(f, path, "/state/epoch", H5T_NATIVE_INT64, &progress->epoch, err);
    if (rc == JC_OK) rc = h5io_read_full(f, path, "/state/step", H5T_NATIVE_INT64, &progress->step, err);
    /* Absent in checkpoints written before exact mid-epoch resume: those are epoch ends. */
    if (rc == JC_OK && H5Lexists(f, "/state/epoch_step", H5P_DEFAULT) > 0)
      rc = h5io_read_full(f, path, "/state/epoch_step", H5T_NATIVE_INT64, &progress->epoch_step, err);
    if (rc == JC_OK && H5Lexists(f, "/state/epoch_sums", H5P_DEFAULT) > 0) {
      int three[1] = {3};
      int nd;
      hsize_t dims[4];
      rc = h5io_dataset_info(f, path, "/state/epoch_sums", &nd, dims, NULL, NULL, err);
      if (rc == JC_OK && (nd != 1 || dims[0] != (hsize_t)three[0]))
        rc = jc_fail(err, JC_ERR_DATA, "%s: dataset /state/epoch_sums must hold 3 values", path);
      if (rc == JC_OK) rc = h5io_read_full(f, path, "/state/epoch_sums", H5T_NATIVE_DOUBLE, progress->epoch_sums, err);
    }
    if (rc == JC_OK && H5Lexists(f, "/state/train_jets", H5P_DEFAULT) > 0)
      rc = h5io_read_full(f, path, "/state/train_jets", H5T_NATIVE_INT64, &progress->train_jets, err);
    if (rc == JC_OK) rc = read_text(f, path, "/state/metrics_csv", &progress->metrics, err);
    if (rc == JC_OK && (progress->epoch < 0 || progress->step < 0 || progress->epoch_step < 0))
      rc = jc_fail(err, JC_ERR_DATA, "%s: /state holds a negative epoch or step", path);
    H5Eclear2(H5E_DEFAULT);
  }
  if (rc == JC_OK && opt) {
    int n[1] = {(int)net->n_params};
    rc = h5io_read_full(f, path, "/state/optimizer_t", H5T_NATIVE_INT64, &opt->t, err);
    if (rc == JC_OK && opt->m) rc = read_checked(f, path, "/state", "optimizer_m", 1, n, opt->m, err);
    if (rc == JC_OK && opt->v) rc = read_checked(f, path, "/state", "optimizer_v", 1, n, opt->v, err);
  }
  if (f >= 0) H5Fclose(f);
  return dist_agree(comm, rc, err);
}

/* ---- the run directory: checkpoint.h5 plus the newest K checkpoint-STEP.h5 ---- */
/* 1 and *step when name is "checkpoint-" + 12 digits + ".h5". */
static int history_step(const char *name, long long *step) {
  const char *p = name + strlen("checkpoint-");
  if (strncmp(name, "checkpoint-", strlen("checkpoint-")) != 0 || strlen(p) != 15 || strcmp(p + 12, ".h5") != 0)
    return 0;
  long long v = 0;
  for (int i = 0; i < 12; i++) {
    if (p[i] < '0' || p[i] > '9') return 0;
    v = 10 * v + (p[i] - '0');
  }
  *step = v;
  return 1;
}

static int desc_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Remove checkpoint-STEP.h5 files beyond the newest `keep` (keep 0: all of them). */
static jc_code prune_history(const char *dir, long keep, jc_err *err) {
  DIR *d = opendir(dir);
  if (!d) return jc_fail(err, JC_ERR_IO, "%s: cannot list run directory: %s", dir, strerror(errno));
  long long *steps = NULL, step;
  size_t n = 0, cap = 0;
  jc_code rc = JC_OK;
  for (struct dirent *e; rc == JC_OK && (e = readdir(d));) {
    if (!history_step(e->d_name, &step)) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      long long *grown = realloc(steps, cap * sizeof *steps);
      if (!grown) rc = jc_fail(err, JC_ERR_NOMEM, "out of memory listing %s", dir);
      else steps = grown;
    }
    if (rc == JC_OK) steps[n++] = step;
  }
  closedir(d);
  if (rc == JC_OK && n > 0) qsort(steps, n, sizeof *steps, desc_ll);
  for (size_t i = (size_t)keep; rc == JC_OK && i < n; i++) {
    char path[H5IO_PATH_MAX];
    snprintf(path, sizeof path, "%s/checkpoint-%012lld.h5", dir, steps[i]);
    if (unlink(path) != 0 && errno != ENOENT)
      rc = jc_fail(err, JC_ERR_IO, "%s: cannot remove old checkpoint: %s", path, strerror(errno));
  }
  free(steps);
  return rc;
}

/* dst = a copy of src, fsynced (for file systems without hard links). */
static jc_code copy_file(const char *src, const char *dst, jc_err *err) {
  int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  jc_code rc = JC_OK;
  if (in < 0 || out < 0) rc = jc_fail(err, JC_ERR_IO, "%s: cannot copy to %s: %s", src, dst, strerror(errno));
  char buf[1 << 16];
  for (ssize_t got; rc == JC_OK && (got = read(in, buf, sizeof buf)) != 0;) {
    if (got < 0 || write(out, buf, (size_t)got) != got)
      rc = jc_fail(err, JC_ERR_IO, "%s: write failed: %s", dst, strerror(errno));
  }
  if (rc == JC_OK && fsync(out) != 0) rc = jc_fail(err, JC_ERR_IO, "%s: cannot sync: %s", dst, strerror(errno));
  if (in >= 0) close(in);
  if (out >= 0 && close(out) != 0 && rc == JC_OK) rc = jc_fail(err, JC_ERR_IO, "%s: %s", dst, strerror(errno));
  return rc;
}

/* Make the renames in dir durable. */
static jc_code sync_dir(const char *dir, jc_err *err) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  jc_code rc = JC_OK;
  if (fd < 0 || fsync(fd) != 0) rc = jc_fail(err, JC_ERR_IO, "%s: cannot sync directory: %s", dir, strerror(errno));
  if (fd >= 0) close(fd);
  return rc;
}

static jc_code link_history(const char *dir, const char *latest, int64_t step, long keep, jc_err *err) {
  char hist[H5IO_PATH_MAX], tmp[H5IO_PATH_MAX + 8];
  snprintf(hist, sizeof hist, "%s/checkpoint-%012lld.h5", dir, (long long)step);
  snprintf(tmp, sizeof tmp, "%s.tmp", hist);
  unlink(tmp); /* left by a run killed here */
  jc_code rc = JC_OK;
  if (link(latest, tmp) != 0) rc = copy_file(latest, tmp, err);
  if (rc == JC_OK && rename(tmp, hist) != 0)
    rc = jc_fail(err, JC_ERR_IO, "%s: cannot rename to %s: %s", tmp, hist, strerror(errno));
  if (rc != JC_OK) unlink(tmp);
  if (rc == JC_OK) rc = prune_history(dir, keep, err);
  if (rc == JC_OK) rc = sync_dir(dir, err);
  return rc;
}

jc_code checkpoint_save_run(const char *dir, long keep, const jc_net *net, const float *params,
                            const jc_optim *opt, const jc_progress *progress, MPI_Comm comm, jc_err *err) {
  char path[H5IO_PATH_MAX];
  snprintf(path, sizeof path, "%s/checkpoint.h5", dir);
  JC_TRY(checkpoint_write(path, net, params, opt, progress, comm, err));
  jc_code rc = JC_OK;
  if (dist_rank(comm) == 0) rc = link_history(dir, path, progress ? progress->step : 0, keep < 1 ? 1 : keep, err);
  return dist_agree(comm, rc, err);
}

int checkpoint_history_count(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  long long step;
  for (struct dirent *e; d && (e = readdir(d));) n += history_step(e->d_name, &step);
  if (d) closedir(d);
  return n;
}

void checkpoint_remove_history(const char *dir, MPI_Comm comm) {
  if (dist_rank(comm) == 0) prune_history(dir, 0, NULL);
}

/* ---- what changed between a checkpoint's config and this run's ---- */
static const char *kv_value(const jc_section *s, const char *key) {
  for (int j = 0; j < s->n_kv; j++)
    if (strcmp(s->kv[j].key, key) == 0) return s->kv[j].value;
  return NULL;
}

/* Keys that steer checkpointing only; they may change when a run is resumed. */
static int run_control_key(const jc_section *s, const char *key) {
  return s->layer_index < 0 && (strcmp(key, "checkpoint_every") == 0 || strcmp(key, "keep_checkpoints") == 0);
}

static void append(char *buf, size_t n, const char *fmt, const char *a, const char *b, const char *c,
                   const char *d) {
  size_t len = strlen(buf);
  if (len + 8 >= n) return;
  snprintf(buf + len, n - len, len ? "; " : "");
  len = strlen(buf);
  snprintf(buf + len, n - len, fmt, a, b, c, d);
}

/* Changes from section a (old) to b (new) with the same name: "[sec] key: old -> new". */
static void section_changes(const jc_section *a, const jc_section *b, const char *label, char *buf, size_t n) {
  for (int pass = 0; pass < 2; pass++) {
    const jc_section *s = pass == 0 ? a : b, *o = pass == 0 ? b : a;
    for (int j = 0; j < s->n_kv; j++) {
      const char *key = s->kv[j].key;
      if (run_control_key(s, key)) continue;
      const char *other = kv_value(o, key);
      if (pass == 1 && other) continue; /* both present: compared in pass 0 */
      if (other && strcmp(other, s->kv[j].value) == 0) continue;
      const char *old = pass == 0 ? s->kv[j].value : "(unset)", *new = pass == 0 ? (other ? other : "(unset)") : s->kv[j].value;
      append(buf, n, "%s %s: %s -> %s", label, key, old, new);
    }
  }
}

char *checkpoint_config_changes(const char *stored_text, const jc_config *cfg, jc_err *err) {
  jc_config *old = NULL;
  if (config_parse_text(stored_text, "the checkpoint's config", &old, err) != JC_OK) return NULL;
  char *buf = jc_calloc(1, 2048, err);
  if (!buf) {
    config_free(&old);
    return NULL;
  }
  const int n_old = old->n_sec, n_new = cfg->n_sec, n = n_old < n_new ? n_old : n_new;
  for (int i = 0; i < n; i++) {
    const jc_section *a = &old->sec[i], *b = &cfg->sec[i];
    char label[64];
    if (i == 0) snprintf(label, sizeof label, "[%s]", b->name);
    else snprintf(label, sizeof label, "layer%02d [%s]", i - 1, b->name);
    if (strcmp(a->name, b->name) != 0) {
      char index[16];
      snprintf(index, sizeof index, "layer%02d", i - 1);
      append(buf, 2048, "%s: [%s] -> [%s]%s", index, a->name, b->name, "");
      continue;
    }
    section_changes(a, b, label, buf, 2048);
  }
  if (n_old != n_new) {
    char a[32], b[32];
    snprintf(a, sizeof a, "%d", n_old - 1);
    snprintf(b, sizeof b, "%d", n_new - 1);
    append(buf, 2048, "number of layer sections: %s -> %s%s%s", a, b, "", "");
  }
  config_free(&old);
  return buf;
}
