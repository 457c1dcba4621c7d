#ifndef FLYWHEEL_CGIT2_SHIM_H
#define FLYWHEEL_CGIT2_SHIM_H
#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/mempack.h>
#include <git2/sys/repository.h>
/* zlib (a dependency of libgit2-dev): GitStore deflates the objects of the packs it streams to git_odb_write_pack. */
#include <zlib.h>
#endif
