/* chunkzip_compress2.c - jetcnn's own zlib compress2(), through which HDF5's deflate filter
 * runs chunkzip_encode while `generate` and `images` write (see chunkzip.h).
 *
 * libhdf5 calls compress2() (nm -D libhdf5.so: U compress2) for every chunk it deflates. The
 * jetcnn executable defines and exports this one (CMakeLists.txt: --export-dynamic-symbol),
 * and the dynamic linker binds libhdf5's call to the executable's definition before libz's
 * (symbol interposition). HDF5 1.10 offers no other way: its deflate filter cannot be
 * replaced (H5Zregister refuses ids below 256) and a filter with another id would change
 * the file format. Outside chunkzip_fast(1) this calls libz's own compress2 (dlsym
 * RTLD_NEXT: the next definition after the executable's), so it is zlib's, bit for bit.
 */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <pthread.h>
#include <zlib.h>

#include "jetcnn/chunkzip.h"

static int fast_mode;

void chunkzip_fast(int on) { fast_mode = on != 0; }

typedef int (*compress2_fn)(Bytef *, uLongf *, const Bytef *, uLong, int);
static compress2_fn libz_compress2;
static pthread_once_t libz_once = PTHREAD_ONCE_INIT;

static void find_libz(void) { libz_compress2 = (compress2_fn)dlsym(RTLD_NEXT, "compress2"); }

/* libz's own compress2, the definition behind this one; Z_STREAM_ERROR if there is none (a
 * fully static link, which the build never makes). */
static int zlib_compress2(Bytef *dest, uLongf *destLen, const Bytef *source, uLong sourceLen, int level) {
  pthread_once(&libz_once, find_libz);
  if (!libz_compress2) return Z_STREAM_ERROR;
  return libz_compress2(dest, destLen, source, sourceLen, level);
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
