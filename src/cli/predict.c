/* predict.c - `jetcnn predict CHECKPOINT --data FILE --out SCORES`. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "jetcnn/agree.h"
#include "jetcnn/checkpoint.h"
#include "jetcnn/dist.h"
#include "jetcnn/train.h"

jc_code cli_predict(int argc, char **argv, MPI_Comm comm, jc_err *err) {
  cli_opt opts[] = {
      {"data", 1, "FILE", "jets to score (HDF5: /images, /labels)", 0, {0}},
      {"out", 1, "FILE", "scores file to write (/score, /label, pass-through datasets)", 0, {0}},
  };
  const int n_opts = (int)(sizeof opts / sizeof opts[0]);
  const char *pos[1];
  int n_pos = 0, help = 0;
  jc_code rc = cli_parse(comm, argc, argv, opts, n_opts, pos, 1, 1, &n_pos, &help, err);
  if (rc == JC_OK && help) {
    cli_print_help(comm, "[mpirun -np P] jetcnn predict CHECKPOINT --data FILE --out SCORES",
                   "Score every jet of FILE with the model in CHECKPOINT (its config, input normalisation\n"
                   "and weights). Writes /score (probability of class 1 = top), /label, /probs when there\n"
                   "are more than 2 classes, and the file's other 1-D datasets (jet_mass, ...).",
                   opts, n_opts);
    return JC_OK;
  }
  const char *data_path = cli_value(opts, n_opts, "data"), *out = cli_value(opts, n_opts, "out");
  if (rc == JC_OK && (!data_path || !out))
    rc = jc_fail(err, JC_ERR_USAGE, "predict: --data FILE and --out FILE are required (see 'jetcnn predict --help')");
  jc_net *net = NULL;
  jc_data *d = NULL;
  float *params = NULL;
  if (rc == JC_OK) rc = agree_file(comm, "CHECKPOINT", pos[0], err);
  if (rc == JC_OK) rc = checkpoint_load_net(pos[0], comm, &net, &params, err);
  if (rc == JC_OK) rc = agree_h5_input(comm, "--data", data_path, AGREE_IMAGE_DATASETS, AGREE_LABELS, err);
  if (rc == JC_OK) rc = dist_agree(comm, data_open(data_path, net->hp.input, net->n_classes, comm, &d, err), err);
  double acc = 0.0, loss = 0.0;
  if (rc == JC_OK) rc = predict_run(net, params, d, out, comm, &acc, &loss, err);
  if (rc == JC_OK)
    cli_printf(comm, "jetcnn predict: %zu jets, accuracy %.4f, loss %.4f -> %s\n", d->n, acc, loss, out);
  data_close(&d);
  free(params);
  net_free(&net);
  return rc;
}
