/* jetfile.h - the HDF5 jet file: layout, parallel block writer, constituent reader.
 *
 * Layout (docs/formats.md, "Jet files"): per-jet datasets of length N along the first axis,
 * chunked in rows of jets and compressed with HDF5's own filters (jetfile_storage):
 *   /constituents (N,M,4) float32  E, px, py, pz; pT-ordered, zero-padded   [if M > 0]
 *   /charged      (N,M)   uint8    1 charged, 0 neutral or padding          [if M > 0 and charged]
 *   /images       (N,P,P) or (N,P,P,C) float32                              [if P > 0]
 *   /labels       (N) int32 (0 QCD, 1 top), /n_constituents (N) int32,
 *   /jet_pt /jet_eta /jet_phi /jet_mass /tau1 /tau2 /tau3 (N) float32
 * Root attribute format = JETFILE_FORMAT. Ranks own whole chunks (jetfile_rank_rows) and
 * write in rounds of at most JETFILE_ROUND_ROWS rows; every write is collective (HDF5's
 * collective filtered write: each rank compresses and writes only the chunks of its own
 * rows), so every rank calls it every round.
 */
#ifndef JETCNN_JETFILE_H
#define JETCNN_JETFILE_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "jetcnn/error.h"
#include "jetcnn/h5io.h"
#include "jetcnn/jetimage.h"

#define JETFILE_FORMAT "jetcnn-jets-1"
#define JETFILE_CONSTITUENTS_FORMAT "jetcnn-constituents-1"
/* Rows a rank writes per collective round; chunk rows must divide it. */
#define JETFILE_ROUND_ROWS 1024

/* How the per-jet datasets are stored: HDF5's own filters only (shuffle, deflate), which every
 * HDF5 reader (h5py, h5dump) has without plugins. */
typedef struct {
  int chunk_rows;        /* jets per chunk, a divisor of JETFILE_ROUND_ROWS */
  int shuffle;           /* 1: HDF5's byte shuffle before deflate, on every dataset but /images */
  int shuffle_images;    /* 1: also on /images (mostly empty pixels: it makes them larger) */
  int deflate_level;     /* zlib level 1..9, or 0 for no compression */
  size_t metadata_cache; /* bytes of HDF5 metadata cache while writing; 0: HDF5's default. A
                          * small cache makes a small file reach the chunk-index flushes that
                          * only big files reach with the default (tests/test_jetfile.c). */
} jetfile_storage;

/* The storage generate and images use (docs/formats.md says why). */
jetfile_storage jetfile_storage_default(void);

typedef struct {
  int n_const;     /* constituents per jet; 0: no /constituents and /charged */
  int has_charged; /* write /charged (needs n_const > 0) */
  int pixels;      /* 0: no /images */
  int channels;    /* image channels (1: /images is (N,P,P); else (N,P,P,C)) */
} jetfile_layout;

/* Rows of every per-jet dataset for `capacity` jets, in memory (row-major like the file). */
typedef struct {
  int capacity;
  jetfile_layout layout;
  float *constituents; /* capacity * n_const * 4 */
  uint8_t *charged;    /* capacity * n_const */
  float *images;       /* capacity * pixels * pixels * channels */
  int32_t *labels, *n_constituents;
  float *jet_pt, *jet_eta, *jet_phi, *jet_mass, *tau1, *tau2, *tau3;
} jetfile_block;

/* Allocate a block for the layout; free with jetfile_block_free (NULL-safe on members). */
jc_code jetfile_block_alloc(jetfile_block *b, const jetfile_layout *layout, int capacity, jc_err *err);
void jetfile_block_free(jetfile_block *b);

/* Derive the per-jet observables and (if the layout has images) the images of rows
 * [0, n) of b from its constituents (and charged flags). OpenMP over jets. */
void jetfile_derive(jetfile_block *b, int n, const jetimage_params *image);

/* 0 if rows [0, n) of b hold finite momenta and 0/1 labels; else JC_ERR_DATA naming
 * path, the file row (row0 + i) and the constituent. */
jc_code jetfile_check_block(const jetfile_block *b, int n, const char *path, hsize_t row0, jc_err *err);

/* The contiguous rows a rank owns: whole chunks of chunk_rows, as evenly spread as chunks
 * allow. */
void jetfile_rank_rows(hsize_t n_jets, int chunk_rows, int rank, int size, hsize_t *row0, hsize_t *n_rows);
/* How many rounds of JETFILE_ROUND_ROWS-row writes the rank with the most rows needs. */
hsize_t jetfile_rounds(hsize_t n_jets, int chunk_rows, int size);
/* Rows of write round `round` of a rank owning [row0, row0 + n_rows): sets *start, returns
 * the count (0 once the rank's rows are used up; it still takes part in the round). */
int jetfile_round_rows(hsize_t row0, hsize_t n_rows, hsize_t round, hsize_t *start);

typedef struct {
  hid_t file;
  char path[H5IO_PATH_MAX];
  MPI_Comm comm;
  jetfile_layout layout;
  jetfile_storage storage;
  hsize_t n_jets;
} jetfile_writer;

/* Create PATH.tmp with every dataset of the layout for n_jets jets, stored as `storage` says
 * (NULL: jetfile_storage_default()), and the format attribute. Collective on comm; JC_ERR_USAGE
 * for a storage that is not supported, JC_ERR_IO when any rank fails jetfile_check_output()
 * (every rank returns that rank's message; nothing is created). */
jc_code jetfile_create(jetfile_writer *w, const char *path, hsize_t n_jets, const jetfile_layout *layout,
                       const jetfile_storage *storage, MPI_Comm comm, jc_err *err);
/* Write rows [0, n) of b to file rows [row0, row0 + n); row0 starts a chunk and n is whole
 * chunks unless the rows end the dataset. Collective: every rank calls it, a rank with
 * nothing to write passes n = 0. */
jc_code jetfile_write_block(jetfile_writer *w, hsize_t row0, int n, const jetfile_block *b, jc_err *err);
/* Close, fsync and rename PATH.tmp to PATH (collective). */
jc_code jetfile_commit(jetfile_writer *w, jc_err *err);
/* Close and remove PATH.tmp (collective; for error paths). */
void jetfile_abandon(jetfile_writer *w);

/* Attributes of /images describing the preprocessing: pixels, extent, channels, normalize. */
jc_code jetfile_describe_images(jetfile_writer *w, const jetimage_params *image, jc_err *err);

/* Scalar numeric attributes (all ranks call them with the same value). */
jc_code jetfile_attr_double(hid_t obj, const char *name, double value, jc_err *err);
jc_code jetfile_attr_long(hid_t obj, const char *name, long long value, jc_err *err);

typedef struct {
  hid_t file;
  char path[H5IO_PATH_MAX];
  hsize_t n_jets;
  int n_const;
  int has_charged;
} jetfile_reader;

/* Open a constituents file (format JETFILE_FORMAT or JETFILE_CONSTITUENTS_FORMAT) and check
 * its shapes: /constituents (N,M,4) float, /labels (N) integer, optional /charged (N,M)
 * integer. Collective on comm; JC_ERR_DATA with the reason otherwise (a rank whose own copy is
 * missing or not HDF5 fails all: h5io_open_read; that every rank's copy has rank 0's content
 * is checked by the caller, agree_h5_input). */
jc_code jetfile_open(jetfile_reader *r, const char *path, MPI_Comm comm, jc_err *err);
/* Read rows [row0, row0 + n) of /constituents, /labels (and /charged) into b (whose layout
 * has r->n_const constituents). Collective; n = 0 on ranks with nothing to read. */
jc_code jetfile_read_block(jetfile_reader *r, hsize_t row0, int n, jetfile_block *b, jc_err *err);
void jetfile_close(jetfile_reader *r);

/* ---- checks one rank makes alone before a collective create (jetfile_preflight.c) ---- */
/* PATH is not a directory, its directory exists and is writable, and its file system has
 * jetfile_estimate_bytes() free; else JC_ERR_IO with the reason. */
jc_code jetfile_check_output(const char *path, const jetfile_layout *layout, hsize_t n_jets, jc_err *err);
/* A generous estimate of a jet file's size: jets like generate's (about 50 constituents and
 * 50 lit pixels on average) compress to well below it (docs/formats.md). */
hsize_t jetfile_estimate_bytes(const jetfile_layout *layout, hsize_t n_jets);

#endif
