#ifndef FLYWHEEL_CGIT2_SHIM_H
#define FLYWHEEL_CGIT2_SHIM_H
#include <git2.h>
#endif
