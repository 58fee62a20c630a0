/* chunkzip.h - a fast zlib-format encoder for the jet files' shuffled chunks, and the switch
 * that makes HDF5's deflate filter use it.
 *
 * HDF5's deflate filter compresses each chunk with zlib's compress2(). jetcnn defines its own
 * compress2() (chunkzip_compress2.c), which the dynamic linker binds libhdf5's call to. By
 * default it does exactly what zlib's does; between chunkzip_fast(1) and chunkzip_fast(0) it
 * encodes with chunkzip_encode() instead. Either way the chunk is an ordinary zlib stream
 * (RFC 1950/1951) that any HDF5 reader inflates. docs/physics.md, "Speed", says why.
 */
#ifndef JETCNN_CHUNKZIP_H
#define JETCNN_CHUNKZIP_H

#include <stddef.h>

/* Encode src[0..n) as one zlib stream into dst (capacity cap): runs of equal bytes become
 * distance-1 matches, everything else literals, Huffman-coded per block of tokens. Sets *out
 * to the bytes written. Returns 0, -1 if dst is too small (*out then undefined), -2 if out
 * of memory. */
int chunkzip_encode(unsigned char *dst, size_t cap, const unsigned char *src, size_t n, size_t *out);

/* 1: HDF5's deflate filter (through compress2) uses chunkzip_encode, and zlib for a chunk
 * it cannot shrink; 0: zlib's own deflate. Process-wide; set it around the writes of a
 * command, from one thread. */
void chunkzip_fast(int on);

#endif
