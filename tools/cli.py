"""What every command line in tools/ does the same way: one line for an error the user can fix, one line and
exit 130 (SIGINT) or 143 (SIGTERM) when stopped, and no worker process left behind.

    def main(argv=None) -> int:
        args = parse_args(argv)
        return cli.run("tools.NAME", lambda: do_the_work(args), debug=args.debug)
"""

import argparse
import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import psutil

import fashion_mnist as fm
from tools import common

# What a user can cause and fix: reported in one line, without a traceback. A tool adds its own error class.
USER_ERRORS = (fm.ArchiveError, fm.ArchiveUnavailableError, OSError)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
CLEANUP_SECONDS = 20  # how long a stopped command may take to clean up before it ends without finishing
DEBUG_HINT = "--debug (or FASHION_MNIST_DEBUG=1) shows the traceback"
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent ends
_prctl = []  # libc's prctl, looked up once in the main process: a forked child only calls it
_stop_handlers = set()  # the handlers that run() installs, which a forked child puts back to the default


class UserError(Exception):
    """A request a tool refuses or cannot carry out, with the reason."""


def debug_default() -> bool:
    return bool(os.environ.get("FASHION_MNIST_DEBUG"))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        """A usage error in one line (argparse prints the usage too), exit code 2 as argparse gives."""
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def tool_parser(description: str) -> argparse.ArgumentParser:
    """The command line that the tools reading the official archives share: their docstring as the help,
    --data-dir and --debug; each adds its own options."""
    parser = ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir",
        default=str(common.archives_dir()),
        help=f"the four official archives (default: ${common.ARCHIVES_VARIABLE}, else ../shared/fashion-mnist)",
    )
    parser.add_argument("--debug", action="store_true", default=debug_default(), help=DEBUG_HINT)
    return parser


def path_argument(value: str) -> Path:
    """A path argument that may not be empty: `Path("")` would be the current folder."""
    if not value.strip():
        raise argparse.ArgumentTypeError("an empty path is not a folder")
    return Path(value)


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
    cleaned_up = threading.Event()

    def stop(signum, frame):
        if os.getpid() != main_pid:
            # A child that got here (one not forked, or forked before run()): it ends quietly.
            os._exit(128 + signum)
        # A second signal while cleaning up must not interrupt the cleanup.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stopped_by.append(signum)
        threading.Thread(target=_end_if_stuck, args=(prog, signum, cleaned_up), daemon=True).start()
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    _stop_handlers.add(stop)
    if not _prctl:
        os.register_at_fork(after_in_child=_end_with_parent)
        _prctl.append(ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None)
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
        cleaned_up.set()
        _stop_handlers.discard(stop)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


def _end_if_stuck(prog: str, signum: int, cleaned_up: threading.Event) -> None:
    """Once stopped, end the process if its cleanup has not ended within CLEANUP_SECONDS: a worker killed while
    it held a lock of its pool (SIGTERM sent to the whole process group) leaves the pool's cleanup waiting."""
    if cleaned_up.wait(CLEANUP_SECONDS):
        return
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child.kill()
    log(f"{prog}: stopped by {signal.Signals(signum).name}; cleanup did not finish, a cache may hold a partial build")
    os._exit(128 + signum)


def _end_with_parent() -> None:
    """In a forked worker: be killed when the main process ends, even by SIGKILL, instead of lingering; leave
    SIGINT to the main process, and die at once of SIGTERM. (A Python handler runs only between bytecodes: a
    worker that the signal reaches just before it blocks on a lock might never run it.)"""
    if signal.getsignal(signal.SIGINT) in _stop_handlers:
        # Ctrl-C reaches the whole process group; only the main process acts on it. An idle worker of a
        # `multiprocessing` pool holds the pool's task-queue lock: killed by SIGINT, it would never release it,
        # and the pool's cleanup in the main process would wait for that lock forever.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if signal.getsignal(signal.SIGTERM) in _stop_handlers:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # how a pool ends its workers: at once, quietly
    if _prctl[0] is not None:
        _prctl[0](_PR_SET_PDEATHSIG, signal.SIGKILL)


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT and SIGTERM until the block ends, then act on the first one: the block is never cut short
    (SIGKILL still can). The handlers are swapped rather than the signals blocked: a process-directed signal goes
    to any thread that does not block it, and Python runs its handler in the main thread."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread handles signals
        yield
        return
    received = []
    handlers = {signum: signal.signal(signum, lambda signum, _: received.append(signum)) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if received:
            signal.raise_signal(received[0])
