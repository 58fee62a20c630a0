/* export.c - `jetcnn export CHECKPOINT --onnx MODEL.onnx`. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "jetcnn/checkpoint.h"
#include "jetcnn/dist.h"
#include "jetcnn/onnx.h"

jc_code cli_export(int argc, char **argv, MPI_Comm comm, jc_err *err) {
  cli_opt opts[] = {
      {"onnx", 1, "FILE", "ONNX model to write (opset 13; replaced atomically)", 0, {0}},
  };
  const int n_opts = (int)(sizeof opts / sizeof opts[0]);
  const char *pos[1];
  int n_pos = 0, help = 0;
  jc_code rc = cli_parse(comm, argc, argv, opts, n_opts, pos, 1, 1, &n_pos, &help, err);
  if (rc == JC_OK && help) {
    cli_print_help(comm, "jetcnn export CHECKPOINT --onnx MODEL.onnx",
                   "Write the model in CHECKPOINT as one ONNX graph (opset 13) for ONNX Runtime: input\n"
                   "`images`, float32 (N,H,W) or (N,H,W,C), the raw pixels as the input files store them;\n"
                   "output `probs`, float32 (N,K), the class probabilities `jetcnn predict` writes. The input\n"
                   "normalisation, layout change, every layer and the softmax/sigmoid head are in the graph\n"
                   "(docs/formats.md, \"ONNX model\").",
                   opts, n_opts);
    return JC_OK;
  }
  const char *out = cli_value(opts, n_opts, "onnx");
  if (rc == JC_OK && !out) rc = jc_fail(err, JC_ERR_USAGE, "export: --onnx FILE is required (see 'jetcnn export --help')");
  jc_net *net = NULL;
  float *params = NULL;
  if (rc == JC_OK) rc = checkpoint_load_net(pos[0], comm, &net, &params, err);
  jc_onnx_info info = {0};
  double seconds = 0.0;
  if (rc == JC_OK) {
    double t0 = MPI_Wtime();
    jc_code wrc = dist_rank(comm) == 0 ? onnx_export_net(net, params, out, pos[0], &info, err) : JC_OK;
    seconds = MPI_Wtime() - t0;
    rc = dist_agree(comm, wrc, err);
  }
  if (rc == JC_OK)
    cli_printf(comm, "jetcnn export: %s -> %s (ONNX opset %d, %d nodes, %zu parameters, %zu bytes, written in %.3f s)\n",
               pos[0], out, JC_ONNX_OPSET, info.n_nodes, net->n_params, info.n_bytes, seconds);
  free(params);
  net_free(&net);
  return rc;
}
