/* chunkzip_compress2.c - jetcnn's own zlib compress2(), through which HDF5's deflate filter
 * runs chunkzip_encode while `generate` and `images` write (see chunkzip.h).
 *
 * libhdf5 calls compress2() (nm -D libhdf5.so: U compress2) for every chunk it deflates. The
 * jetcnn executable defines and exports this one (CMakeLists.txt: --export-dynamic-symbol),
 * and the dynamic linker binds libhdf5's call to the executable's definition before libz's
 * (symbol interposition). HDF5 1.10 offers no other way: its deflate filter cannot be
 * replaced (H5Zregister refuses ids below 256) and a filter with another id would change
 * the file format. Outside chunkzip_fast(1) this is zlib's compress2, line for line: the same
 * deflateInit (= deflateInit2 with window 15, memLevel 8, default strategy), the same stream
 * loop, the same return codes and *destLen.
 */
#include <zlib.h>

#include "jetcnn/chunkzip.h"

static int fast_mode;

void chunkzip_fast(int on) { fast_mode = on != 0; }

/* zlib's compress2 (zlib 1.2.13 compress.c): Z_OK, Z_MEM_ERROR, Z_BUF_ERROR if dest is too
 * small, Z_STREAM_ERROR for a bad level; *destLen = bytes written. */
static int zlib_compress2(Bytef *dest, uLongf *destLen, const Bytef *source, uLong sourceLen, int level) {
  const uInt max = (uInt)-1;
  uLong left = *destLen;
  *destLen = 0;
  z_stream stream;
  stream.zalloc = Z_NULL;
  stream.zfree = Z_NULL;
  stream.opaque = Z_NULL;
  int err = deflateInit(&stream, level);
  if (err != Z_OK) return err;
  stream.next_out = dest;
  stream.avail_out = 0;
  stream.next_in = (z_const Bytef *)source;
  stream.avail_in = 0;
  do {
    if (stream.avail_out == 0) {
      stream.avail_out = left > (uLong)max ? max : (uInt)left;
      left -= stream.avail_out;
    }
    if (stream.avail_in == 0) {
      stream.avail_in = sourceLen > (uLong)max ? max : (uInt)sourceLen;
      sourceLen -= stream.avail_in;
    }
    err = deflate(&stream, sourceLen ? Z_NO_FLUSH : Z_FINISH);
  } while (err == Z_OK);
  *destLen = stream.total_out;
  deflateEnd(&stream);
  return err == Z_STREAM_END ? Z_OK : err;
}

int compress2(Bytef *dest, uLongf *destLen, const Bytef *source, uLong sourceLen, int level);

int compress2(Bytef *dest, uLongf *destLen, const Bytef *source, uLong sourceLen, int level) {
  /* level 0 asks for stored blocks and a bad level for Z_STREAM_ERROR: zlib does both */
  if (!fast_mode || level < 1 || level > 9) return zlib_compress2(dest, destLen, source, sourceLen, level);
  size_t out = 0, cap = (size_t)*destLen;
  int rc = chunkzip_encode(dest, cap, source, (size_t)sourceLen, &out);
  /* Incompressible input (HDF5 gives compressBound(n) bytes, n + 0.03 %): chunkzip has no
   * stored blocks, zlib falls back to them; so does this, and returns what zlib returns. */
  if (rc == -1) return zlib_compress2(dest, destLen, source, sourceLen, level);
  *destLen = rc == 0 ? (uLongf)out : 0; /* like zlib: nothing written on Z_MEM_ERROR */
  return rc == 0 ? Z_OK : Z_MEM_ERROR;
}
