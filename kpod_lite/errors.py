"""The errors a command reports in one paragraph, and the exit code each means.

A leaf module, so that the config, its checks, the methods table and the family seam can all
raise these without importing one another.

Exit codes of every `kpod-lite` sub-command and of `python -m kpod_lite.stats`
(`report_errors`):

    0    the command did what it was asked
    1    it ran, but did not do all of it (`IncompleteWork`: e.g. teacher requests that failed;
         what succeeded is kept, and the same command continues from there), or the system
         failed under it (a full disk)
    2    it was refused: an input file, a setting, an output path or an output another
         command is using (`ConfigError`, `DataFormatError`, `OutputError`, a missing file)
    130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable

# The OSError numbers that mean a path the user gave is wrong, not the system failing.
_PATH_ERRNOS = {errno.ENOENT, errno.EEXIST, errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS,
                errno.ENAMETOOLONG}


class ConfigError(ValueError):
    """A preset name, a setting or a hyper-parameter value that KPOD cannot run with."""


class OutputError(ConfigError):
    """An output path a command cannot write, or one that another command is writing (`kpod_lite.outputs`)."""


class IncompleteWork(Exception):
    """The command ran but did not do all it was asked; the message says what is missing and
    how to finish it. Exit code 1."""


def _os_error_message(error: OSError) -> str:
    where = error.filename if error.filename is not None else ""
    what = error.strerror or str(error)
    advice = {errno.EACCES: "choose a path this user can read and write, or ask its owner for permission",
              errno.EPERM: "choose a path this user can read and write, or ask its owner for permission",
              errno.EISDIR: "name a file, not a folder",
              errno.ENOTDIR: "a part of the path is a file, not a folder",
              errno.EEXIST: "a file is in the way of a folder to create; move it or choose another path",
              errno.ENOENT: "check the path",
              errno.ENOSPC: "free some space, then run the same command again"}.get(error.errno, "check the path")
    return f"{where}: {what}; {advice}" if where else f"{what}; {advice}"


def report_errors(prog: str, work: Callable[[], int]) -> int:
    """Run a command's `work` and turn what it raises for a reason the user can act on into one
    paragraph on stderr and an exit code (module docstring); anything else is a bug and keeps
    its traceback."""
    from kpod_lite.data.records import DataFormatError

    try:
        return work()
    except (DataFormatError, ConfigError) as error:  # bad input is the user's to fix
        code, message = 2, str(error)
    except IncompleteWork as error:
        code, message = 1, str(error)
    except BrokenPipeError:  # the reader closed our stdout (`| head`): nothing to tell it, 128 + SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    except OSError as error:
        code = 2 if error.errno in _PATH_ERRNOS or error.errno is None else 1
        message = _os_error_message(error) if error.errno is not None else str(error)
    except KeyboardInterrupt:
        code, message = 130, "interrupted; what was finished is kept"
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    return code
