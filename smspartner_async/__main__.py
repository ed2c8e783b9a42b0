"""``python -m smspartner_async``: the ``smspartner-async`` command line."""

import sys

from smspartner_async._cli import main

if __name__ == "__main__":
    sys.exit(main())
