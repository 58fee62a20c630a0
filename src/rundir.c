/* rundir.c - the run directory: how a run starts, config.cfg, metrics.csv and the
 * checkpoints of a run (see rundir.h). */
#include "jetcnn/rundir.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jetcnn/dist.h"

#define RUNDIR_PATH_MAX 4096
#define METRICS_HEADER \
  "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,val_auc,val_rej30,img_per_s,seconds," STEPTIME_CSV_HEADER "\n"

/* ---- files (rank 0) ---- */
static jc_code make_dirs(const char *path, jc_err *err) {
  char buf[RUNDIR_PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return jc_fail(err, JC_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST)
    return jc_fail(err, JC_ERR_IO, "%s: cannot create run directory: %s", buf, strerror(errno));
  return JC_OK;
}

/* The config actually used (overrides included) to DIR/config.cfg, atomically. */
static jc_code write_config(const jc_rundir *rd, jc_err *err) {
  char path[RUNDIR_PATH_MAX], tmp[RUNDIR_PATH_MAX + 8];
  snprintf(path, sizeof path, "%s/config.cfg", rd->req.dir);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  char *text = config_to_text(rd->net->cfg, err);
  if (!text) return err->code;
  FILE *f = fopen(tmp, "w");
  jc_code rc = JC_OK;
  if (!f) rc = jc_fail(err, JC_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
  if (f) {
    fprintf(f, "; config used by jetcnn train (with --set overrides applied), from %s\n%s", rd->net->cfg->path, text);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) rc = jc_fail(err, JC_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (fclose(f) != 0 && rc == JC_OK) rc = jc_fail(err, JC_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (rc == JC_OK && rename(tmp, path) != 0) rc = jc_fail(err, JC_ERR_IO, "%s: cannot rename: %s", tmp, strerror(errno));
    if (rc != JC_OK) unlink(tmp);
  }
  free(text);
  return rc;
}

/* DIR/metrics.csv holding the log so far, left open for appending. */
static jc_code open_metrics(jc_rundir *rd, jc_err *err) {
  char path[RUNDIR_PATH_MAX];
  snprintf(path, sizeof path, "%s/metrics.csv", rd->req.dir);
  FILE *f = fopen(path, "w");
  if (!f) return jc_fail(err, JC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
  if (fputs(rd->log, f) == EOF || fflush(f) != 0) {
    fclose(f);
    return jc_fail(err, JC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
  }
  rd->log_file = f;
  return JC_OK;
}

/* ---- how the run starts: what the directory holds decides ---- */
/* Set rd->how (collective; rank 0 looks at the directory). On RUN_RESUME and RUN_FINISHED the
 * weights, net state, optimizer state and rd->at come from DIR/checkpoint.h5; on RUN_NEW from
 * --init. */
static jc_code decide(jc_rundir *rd, float *params, float *state, jc_optim *opt, jc_err *err) {
  const jc_run_request *q = &rd->req;
  const long epochs = rd->net->hp.epochs;
  char path[RUNDIR_PATH_MAX];
  snprintf(path, sizeof path, "%s/checkpoint.h5", q->dir);
  int have[2] = {rd->rank == 0 && access(path, F_OK) == 0, rd->rank == 0 ? checkpoint_history_count(q->dir) : 0};
  jc_code rc = JC_OK;
  if (MPI_Bcast(have, 2, MPI_INT, 0, rd->comm) != MPI_SUCCESS)
    rc = jc_fail(err, JC_ERR_RUNTIME, "%s: MPI_Bcast of what the run directory holds failed", q->dir);
  JC_TRY(dist_agree(rd->comm, rc, err));
  /* From here every rank takes the same branch: refusals need no agreement. */
  rd->how = RUN_NEW;
  if (q->resume && q->force) return jc_fail(err, JC_ERR_USAGE, "train: --resume and --force contradict each other");
  if (!have[0] && have[1] && !q->force) /* a new run's pruning would delete its own checkpoints first */
    return jc_fail(err, JC_ERR_USAGE, "%s: run directory holds %d checkpoint-STEP.h5 files but no checkpoint.h5; "
                   "copy the one to resume from to checkpoint.h5, or pass --force to start over", q->dir, have[1]);
  if (!have[0] || q->force) {
    if (q->resume)
      return jc_fail(err, JC_ERR_USAGE, "%s: nothing to resume: no checkpoint.h5 (leave out --resume to start a run)",
                     q->dir);
    if (q->force) checkpoint_remove_history(q->dir, rd->comm); /* they belong to the run started over */
    if (q->init_path) JC_TRY(checkpoint_read(q->init_path, rd->net, params, state, NULL, NULL, rd->comm, err));
    return JC_OK;
  }
  char *stored = checkpoint_read_config(path, rd->comm, err);
  if (!stored) return err->code;
  char *changes = checkpoint_config_changes(stored, rd->net->cfg, err);
  free(stored);
  rc = dist_agree(rd->comm, changes ? JC_OK : err->code, err);
  if (rc == JC_OK && changes[0])
    rc = jc_fail(err, JC_ERR_USAGE, "%s: run directory already holds a checkpoint of a different config (%s); "
                 "choose another --out, or pass --force to start over", q->dir, changes);
  free(changes);
  JC_TRY(rc);
  JC_TRY(checkpoint_read(path, rd->net, params, state, opt, &rd->at, rd->comm, err));
  rd->log = rd->at.metrics; /* the rows written up to that checkpoint */
  rd->at.metrics = NULL;
  const jc_progress *at = &rd->at;
  if (at->train_jets != 0 && at->train_jets != (int64_t)q->train_jets)
    return jc_fail(err, JC_ERR_USAGE, "%s: cannot resume: %s holds %zu jets but the run was trained on %lld", q->dir,
                   q->train_path, q->train_jets, (long long)at->train_jets);
  if (at->epoch_step < 0 || (size_t)at->epoch_step >= q->steps_per_epoch || at->epoch > epochs)
    return jc_fail(err, JC_ERR_DATA, "%s: epoch %lld, step %lld of the epoch do not fit this run (%zu steps per epoch)",
                   path, (long long)at->epoch, (long long)at->epoch_step, q->steps_per_epoch);
  if (at->epoch >= epochs) {
    if (!q->resume)
      return jc_fail(err, JC_ERR_USAGE, "%s: run directory already holds a checkpoint; choose another --out or pass "
                     "--force (it holds a finished run of %ld epochs; --resume does nothing)", q->dir, epochs);
    rd->how = RUN_FINISHED;
    return JC_OK;
  }
  rd->how = RUN_RESUME;
  rd->saved_step = at->step;
  return JC_OK;
}

jc_code rundir_open(const jc_run_request *req, const jc_net *net, float *params, float *state, jc_optim *opt,
                    MPI_Comm comm, jc_rundir **out, jc_err *err) {
  *out = NULL;
  jc_rundir *rd = jc_calloc(1, sizeof *rd, err);
  jc_code rc = dist_agree(comm, rd ? JC_OK : JC_ERR_NOMEM, err);
  if (rc != JC_OK) {
    free(rd);
    return rc;
  }
  *rd = (jc_rundir){.req = *req, .saved_step = -1, .net = net, .params = params, .state = state, .opt = opt,
                    .comm = comm, .rank = dist_rank(comm)};
  if (strlen(req->dir) + 32 > RUNDIR_PATH_MAX) /* room for "/checkpoint-STEP.h5.tmp" */
    rc = jc_fail(err, JC_ERR_USAGE, "%.64s...: run directory path too long (at most %d bytes)", req->dir,
                 RUNDIR_PATH_MAX - 32);
  if (rc == JC_OK) rc = decide(rd, params, state, opt, err);
  if (rc == JC_OK && rd->how != RUN_FINISHED) {
    if (!rd->log && !(rd->log = strdup(METRICS_HEADER))) rc = jc_fail(err, JC_ERR_NOMEM, "out of memory (metrics log)");
    jc_code local = rc == JC_OK && rd->rank == 0 ? make_dirs(req->dir, err) : rc;
    if (local == JC_OK && rd->rank == 0) local = write_config(rd, err);
    if (local == JC_OK && rd->rank == 0) local = open_metrics(rd, err);
    rc = dist_agree(comm, local, err);
  }
  if (rc != JC_OK) {
    rundir_close(&rd);
    return rc;
  }
  *out = rd;
  return JC_OK;
}

void rundir_close(jc_rundir **rdp) {
  if (!rdp || !*rdp) return;
  jc_rundir *rd = *rdp;
  if (rd->log_file) fclose(rd->log_file);
  free(rd->log);
  free(rd->at.metrics);
  free(rd);
  *rdp = NULL;
}

/* ---- during the run ---- */
jc_code rundir_checkpoint(jc_rundir *rd, int64_t epoch, int64_t step, int64_t epoch_step, const double sums[3],
                          jc_err *err) {
  jc_progress at = {epoch, step, epoch_step, {sums[0], sums[1], sums[2]}, (int64_t)rd->req.train_jets, rd->log};
  if (checkpoint_save_run(rd->req.dir, rd->net->hp.keep_checkpoints, rd->net, rd->params, rd->state, rd->opt, &at,
                          rd->comm, err) != JC_OK)
    return jc_prefix(err, "epoch %lld, step %lld: ", (long long)epoch + 1, (long long)step);
  rd->saved_step = step;
  return JC_OK;
}

jc_code rundir_end_epoch(jc_rundir *rd, const jc_epoch_stats *st, jc_err *err) {
  char row[1024];
  int len = snprintf(row, sizeof row, "%lld,%lld,%.6g,%.6f,%.6f,", (long long)st->epoch, (long long)st->step, st->lr,
                     st->train_loss, st->train_acc);
  if (st->has_val)
    len += snprintf(row + len, sizeof row - (size_t)len, "%.6f,%.6f,%.6f,%.4f,", st->val.loss, st->val.acc,
                    st->val.auc, st->val.rej30);
  else
    len += snprintf(row + len, sizeof row - (size_t)len, ",,,,");
  len += snprintf(row + len, sizeof row - (size_t)len, "%.1f,%.3f,", st->img_per_s, st->seconds);
  len += steptime_csv(&st->ranks, row + len, sizeof row - (size_t)len);
  snprintf(row + len, sizeof row - (size_t)len, "\n");
  /* The row joins the log saved in the checkpoint, and reaches metrics.csv after it. */
  size_t have = strlen(rd->log), add = strlen(row);
  char *grown = realloc(rd->log, have + add + 1);
  if (grown) {
    memcpy(grown + have, row, add + 1);
    rd->log = grown;
  }
  JC_TRY(dist_agree(rd->comm, grown ? JC_OK : jc_fail(err, JC_ERR_NOMEM, "out of memory (metrics log)"), err));
  const double none[3] = {0, 0, 0};
  JC_TRY(rundir_checkpoint(rd, st->epoch, st->step, 0, none, err));
  jc_code rc = JC_OK;
  if (rd->rank == 0 && (fputs(row, rd->log_file) == EOF || fflush(rd->log_file) != 0))
    rc = jc_fail(err, JC_ERR_IO, "%s/metrics.csv: write failed: %s", rd->req.dir, strerror(errno));
  return dist_agree(rd->comm, rc, err);
}
