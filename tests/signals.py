"""Child processes that Ctrl-C can reach, however the suite itself was started.

A shell starts background jobs with SIGINT ignored, and children inherit that; Python
then installs no KeyboardInterrupt handler, so a test that sends SIGINT to a child would
see nothing happen. ``Popen(..., preexec_fn=sigint_default)`` gives the child the default
disposition, as a terminal would.
"""

from __future__ import annotations

import signal


def sigint_default() -> None:
    """Reset SIGINT to its default in a child about to exec (a ``preexec_fn``)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
