// The three Linux calls ChildProcess needs that glibc declares only under _GNU_SOURCE, which Swift's Glibc module
// does not define.
#ifndef FLYWHEEL_CSPAWN_H
#define FLYWHEEL_CSPAWN_H
#include <spawn.h>

/// pipe2(fds, O_CLOEXEC): both ends close-on-exec from the start (no window for another thread's spawn).
int cspawn_pipe_cloexec(int fds[2]);
/// posix_spawn_file_actions_addclosefrom_np: close every descriptor from `from` up in the child.
int cspawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);
/// posix_spawn_file_actions_addchdir_np: the child's working folder.
int cspawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);

#endif
