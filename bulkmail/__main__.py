import os
import signal

# Ctrl-C while Python is still loading bulkmail: nothing was read or sent yet, so stop quietly
# (the command line puts its own handler in place before it does anything).
signal.signal(signal.SIGINT, lambda *_: os._exit(130))

from .cli.main import main  # noqa: E402

main()
