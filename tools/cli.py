"""What every command line in tools/ does the same way: one line for an error the user can fix, one line and
exit 130 (SIGINT) or 143 (SIGTERM) when stopped.

    def main(argv=None) -> int:
        args = parse_args(argv)
        return cli.run("tools.NAME", lambda: do_the_work(args), debug=args.debug)
"""

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import multiprocess

import fashion_mnist as fm
from tools import common

# What a user can cause and fix: reported in one line, without a traceback. A tool adds its own error class.
USER_ERRORS = (fm.ArchiveError, fm.ArchiveUnavailableError, OSError)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
CLEANUP_SECONDS = 20  # how long a stopped command may take to clean up before it ends without finishing


class UserError(Exception):
    """A request a tool refuses or cannot carry out, with the reason."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ArgumentParser(argparse.ArgumentParser):
    """A tool's command line: its docstring (`description`) as the help, --debug, and with `data_dir` --data-dir,
    the four official archives' folder."""

    def __init__(self, description: str, data_dir: bool = False, **kwargs):
        super().__init__(description=description, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
        debug = bool(os.environ.get("FASHION_MNIST_DEBUG"))
        self.add_argument(
            "--debug", action="store_true", default=debug, help="show the traceback (or FASHION_MNIST_DEBUG=1)"
        )
        if data_dir:
            text = f"the four official archives (default: ${common.ARCHIVES_VARIABLE}, else ../shared/fashion-mnist)"
            self.add_argument("--data-dir", default=str(common.archives_dir()), help=text)

    def error(self, message):
        """A usage error in one line (argparse prints the usage too), exit code 2 as argparse gives."""
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def path_argument(value: str) -> Path:
    """A path argument that may not be empty: `Path("")` would be the current folder."""
    if not value.strip():
        raise argparse.ArgumentTypeError("an empty path is not a folder")
    return Path(value)


def describe(error: BaseException) -> str:
    """An error in one line; an OSError that has a path names it ("PATH: No space left on device")."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        paths = f"{error.filename} -> {error.filename2}" if error.filename2 is not None else f"{error.filename}"
        return f"{paths}: {error.strerror}"
    return str(error)


def run(prog: str, work: Callable[[], None], debug: bool = False, user_errors=()) -> int:
    """Call `work()` and return the process's exit code."""
    main_pid = os.getpid()
    stopped_by, stuck = [], []
    cleaned_up = threading.Event()

    def stop(signum, frame):
        if os.getpid() != main_pid:
            # A worker that `datasets` forked has this handler too. Ctrl-C reaches the whole process group: only the
            # main process acts on it, and its pool then ends the workers with SIGTERM, on which a worker ends at once.
            if signum == signal.SIGTERM:
                os._exit(128 + signum)
            return
        if stopped_by and not stuck:  # a second signal while cleaning up must not interrupt the cleanup
            return
        if not stopped_by:
            stopped_by.append(signum)
            threading.Thread(target=unblock_if_stuck, daemon=True).start()
        raise KeyboardInterrupt

    def unblock_if_stuck() -> None:
        """A SIGTERM sent to the whole process group ends a pool worker wherever it is: one that waited for a task
        held the pool's task-queue lock, and the pool's cleanup waits for that lock for ever. If the cleanup has not
        ended CLEANUP_SECONDS after the stop, end the pool's processes and interrupt the wait: the rest of the cleanup
        runs."""
        if cleaned_up.wait(CLEANUP_SECONDS):
            return
        for child in multiprocess.active_children():
            child.kill()
        stuck.append(True)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        work()
    except (KeyboardInterrupt, Exception) as error:
        # Once stopped, whatever ends the work comes from the stop: `datasets`, cleaning up its worker pool,
        # raises a TimeoutError of its own in place of the KeyboardInterrupt.
        if stopped_by or isinstance(error, KeyboardInterrupt):
            signum = stopped_by[0] if stopped_by else signal.SIGINT
            log(f"{prog}: stopped by {signal.Signals(signum).name}; nothing half-written was left")
            return 128 + signum
        cause = error  # the user error behind it: `datasets` wraps what fails while a split is generated
        while cause is not None and not isinstance(cause, (UserError, *USER_ERRORS, *user_errors)):
            cause = cause.__cause__
        if cause is None or debug:
            raise
        log(f"{prog}: error: {describe(cause)}")
        return 1
    finally:
        cleaned_up.set()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


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
