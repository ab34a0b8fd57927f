#ifndef CSPAWN_H
#define CSPAWN_H

#include <sys/types.h>

/// Starts `path` with `argv` and `envp` (NULL-terminated) in `cwd` (NULL: the caller's), its standard input, output
/// and error on `stdin_fd`, `stdout_fd` and `stderr_fd` (-1: /dev/null), every other descriptor closed, the signal
/// mask empty and every signal's disposition at its default. posix_spawn(3) with glibc's
/// posix_spawn_file_actions_addclosefrom_np and addchdir_np (glibc 2.34 and 2.29), which Swift's Glibc module does
/// not export. Returns the child's pid, or -1 with the errno value in `*error`.
pid_t cspawn_start(const char *path, char *const argv[], char *const envp[], const char *cwd,
                   int stdin_fd, int stdout_fd, int stderr_fd, int *error);

#endif
