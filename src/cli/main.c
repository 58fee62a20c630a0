/* main.c - `jetcnn CMD ...`: check the CPU, set up MPI and HDF5, dispatch to the subcommand,
 * and turn its error value into one message (printed by rank 0) and an exit code. The only
 * place that exits. Compiled for baseline x86-64 like src/cpu_check.c (CMakeLists.txt): the
 * CPU check runs first, before any code built for the target's instruction set. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jetcnn/agree.h"
#include "jetcnn/cpu.h"

#if defined(__x86_64__) && (defined(__SSE3__) || defined(__AVX__) || defined(__BMI__))
#error "main.c must be compiled for baseline x86-64 (CMakeLists.txt: JETCNN_BASELINE_FLAGS)"
#endif
#include "jetcnn/dist.h"
#include "jetcnn/h5io.h"

typedef struct {
  const char *name;
  jc_code (*run)(int argc, char **argv, MPI_Comm comm, jc_err *err);
  const char *summary;
} command;

static const command COMMANDS[] = {
    {"summary", cli_summary, "print the model defined by a config: shapes, parameters, FLOPs"},
    {"train", cli_train, "train a model on HDF5 jet images (run under mpirun for data parallelism)"},
    {"predict", cli_predict, "score an HDF5 file with a trained checkpoint"},
    {"export", cli_export, "write a trained checkpoint as an ONNX model (for ONNX Runtime)"},
    {"roc", cli_roc, "ROC curve, AUC and background rejection from prediction files"},
    {"generate", cli_generate, "generate synthetic top/QCD jets into an HDF5 file (run under mpirun)"},
    {"images", cli_images, "turn jet constituents into preprocessed jet images (DeepTop recipe)"},
};
static const int N_COMMANDS = (int)(sizeof COMMANDS / sizeof COMMANDS[0]);

static void usage(FILE *f) {
  fprintf(f, "usage: jetcnn COMMAND [options]      (mpirun -np P jetcnn COMMAND ... for P ranks)\n\n"
             "Train convolutional networks on jet images to tell top-quark jets from QCD jets.\n\n"
             "commands:\n");
  for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
  fprintf(f, "\n'jetcnn COMMAND --help' describes the options of each command.\n"
             "exit codes: 0 ok, 1 runtime error, 2 usage/config error, 3 bad input data,\n"
             "            4 cannot write output, 5 out of memory, 75 checkpointed on a signal (requeue)\n");
}

int main(int argc, char **argv) {
  /* First, on every rank and before MPI: a binary built for another CPU would die with SIGILL
   * somewhere later. JETCNN_TEST_CPU_LACKS="avx2 fma" plays a CPU without those (tests only). */
  jc_err cpu_err = {JC_OK, ""};
  if (cpu_check(getenv("JETCNN_TEST_CPU_LACKS"), &cpu_err) != JC_OK) {
    fprintf(stderr, "jetcnn: error: %s\n", cpu_err.msg);
    return JC_ERR_RUNTIME;
  }
  int provided = 0;
  /* SERIALIZED: the training prefetch thread reads HDF5 (MPI-IO) while the main thread
   * computes; never two threads in MPI at once. Without it, prefetch is off. */
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
    fprintf(stderr, "jetcnn: error: MPI_Init_thread failed\n");
    return JC_ERR_RUNTIME;
  }
  MPI_Comm comm = MPI_COMM_WORLD;
  /* MPI failures come back as values (JC_MPI, dist.h) instead of ending the job. */
  if (MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN) != MPI_SUCCESS) {
    fprintf(stderr, "jetcnn: error: MPI_Comm_set_errhandler failed\n");
    MPI_Abort(comm, JC_ERR_RUNTIME);
  }
  h5io_init();
  int rank = dist_rank(comm);

  jc_err err;
  jc_err_clear(&err);
  /* Every rank must run the same command: a rank started with another one (or none, or
   * --help) would leave the others waiting in their first collective. */
  const char *word = argc < 2 ? "" : argv[1];
  const command *cmd = NULL;
  for (int i = 0; i < N_COMMANDS; i++)
    if (strcmp(word, COMMANDS[i].name) == 0) cmd = &COMMANDS[i];
  jc_code rc = agree_text(comm, "the command (first argument)", word, JC_OK, JC_ERR_USAGE, &err);
  if (rc != JC_OK) {
    /* reported below */
  } else if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    if (rank == 0) usage(argc < 2 ? stderr : stdout);
    rc = argc < 2 ? JC_ERR_USAGE : JC_OK;
  } else if (strcmp(argv[1], "--version") == 0) {
    if (rank == 0) printf("jetcnn %s\nbuilt with %s for:%s\n", JETCNN_VERSION, cpu_build_target, cpu_build_features);
  } else if (!cmd) {
    rc = jc_fail(&err, JC_ERR_USAGE, "unknown command '%s' (see 'jetcnn --help')", argv[1]);
  } else {
    if (provided < MPI_THREAD_FUNNELED && rank == 0)
      fprintf(stderr, "jetcnn: warning: MPI provides thread level %d < FUNNELED\n", provided);
    rc = cmd->run(argc - 1, argv + 1, comm, &err);
  }
  if (rc != JC_OK && err.msg[0] && rank == 0)
    fprintf(stderr, "jetcnn: %s%s\n", rc == JC_EXIT_REQUEUE ? "" : "error: ", err.msg);
  fflush(stdout);
  fflush(stderr);
  MPI_Finalize();
  return (int)rc;
}
