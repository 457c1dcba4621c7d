#ifndef FLYWHEEL_CZLIB_SHIM_H
#define FLYWHEEL_CZLIB_SHIM_H
#include <zlib.h>

/* inflateInit2 is a macro and does not import into Swift. */
static inline int fw_inflate_init2(z_stream *s, int windowBits) { return inflateInit2(s, windowBits); }
#endif
