/* summary.c - `jetcnn summary CONFIG`: print the model table. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "jetcnn/agree.h"
#include "jetcnn/dist.h"
#include "jetcnn/net.h"

jc_code cli_summary(int argc, char **argv, MPI_Comm comm, jc_err *err) {
  cli_opt opts[] = {
      {"set", 1, "KEY=VALUE", "override a [net] key (repeatable), e.g. --set batch=256", 0, {0}},
  };
  const int n_opts = (int)(sizeof opts / sizeof opts[0]);
  const char *pos[1];
  int n_pos = 0, help = 0;
  jc_code rc = cli_parse(comm, argc, argv, opts, n_opts, pos, 1, 1, &n_pos, &help, err);
  if (rc == JC_OK && help) {
    cli_print_help(comm, "jetcnn summary CONFIG [--set KEY=VALUE ...]",
                   "Print the model defined by CONFIG the way Keras' model.summary() does: layer, output\n"
                   "shape (H, W, C), parameters, forward FLOPs and activation memory per sample, totals.",
                   opts, n_opts);
    return JC_OK;
  }
  jc_config *cfg = NULL;
  jc_net *net = NULL;
  if (rc == JC_OK) { /* the parse was agreed on: every rank is here */
    rc = config_load(pos[0], &cfg, err);
    for (int i = 0; rc == JC_OK && i < opts[0].count; i++) rc = config_set_net(cfg, opts[0].values[i], err);
    rc = agree_config(comm, cfg, rc, err); /* also a config file missing on one rank only */
  }
  if (rc == JC_OK) rc = net_create(cfg, &net, err);
  else config_free(&cfg);
  char *table = NULL;
  if (rc == JC_OK && !(table = net_summary(net, err))) rc = err->code;
  if (rc == JC_OK) cli_printf(comm, "%s", table);
  free(table);
  net_free(&net);
  return rc;
}
