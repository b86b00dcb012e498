"""What every command line in tools/ does the same way: one line for an error the user can fix, one line and
exit 130 (SIGINT) or 143 (SIGTERM) when stopped, and no worker process left behind.

    def main(argv=None) -> int:
        args = parse_args(argv)
        return cli.run("tools.NAME", lambda: do_the_work(args), debug=args.debug)
"""

import ctypes
import os
import signal
import sys
from collections.abc import Callable

import fashion_mnist as fm

# What a user can cause and fix: reported in one line, without a traceback. A tool adds its own error class.
USER_ERRORS = (fm.ArchiveError, fm.ArchiveUnavailableError, OSError)
DEBUG_HINT = "--debug (or FASHION_MNIST_DEBUG=1) shows the traceback"
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent ends
_forks_end_with_parent = []  # registered once per process


class UserError(Exception):
    """A request a tool refuses or cannot carry out, with the reason."""


def debug_default() -> bool:
    return bool(os.environ.get("FASHION_MNIST_DEBUG"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def user_error(error: BaseException | None, user_errors=()) -> BaseException | None:
    """The user error behind `error`: `datasets` wraps what fails while a split is generated."""
    while error is not None:
        if isinstance(error, (UserError, *USER_ERRORS, *user_errors)):
            return error
        error = error.__cause__
    return None


def run(prog: str, work: Callable[[], None], debug: bool = False, user_errors=()) -> int:
    """Call `work()` and return the process's exit code."""
    main_pid = os.getpid()
    stopped_by = []

    def stop(signum, frame):
        if os.getpid() != main_pid:
            # A worker forked by datasets: it ends quietly; the main process stops the others.
            os._exit(128 + signum)
        # A second signal while cleaning up must not interrupt the cleanup.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stopped_by.append(signum)
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    if not _forks_end_with_parent:
        os.register_at_fork(after_in_child=_end_with_parent)
        _forks_end_with_parent.append(True)
    try:
        work()
    except (KeyboardInterrupt, Exception) as error:
        # Once stopped, whatever ends the work comes from the stop: `datasets`, cleaning up its worker pool,
        # raises a TimeoutError of its own in place of the KeyboardInterrupt.
        if stopped_by or isinstance(error, KeyboardInterrupt):
            signum = stopped_by[0] if stopped_by else signal.SIGINT
            log(f"{prog}: stopped by {signal.Signals(signum).name}; nothing half-written was left")
            return 128 + signum
        cause = user_error(error, user_errors)
        if cause is None or debug:
            raise
        log(f"{prog}: error: {cause}")
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _end_with_parent() -> None:
    """In a forked worker: be killed when the main process ends, even by SIGKILL, instead of lingering."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
