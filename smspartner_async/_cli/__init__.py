"""The ``smspartner-async`` command line: ``demo``, ``account``, ``subaccounts``, ``credit``,
``emulator``.

It sits beside the library and uses only its public API (``smspartner_async`` and
``smspartner_async.testing``); the library never imports it.

- ``_app``: the argument parser, the exit codes and the one place errors become a line.
- ``_commands``: one coroutine per subcommand.
- ``_topups``: ``credit bulk`` (journaled, resumable) and ``credit settle``.
- ``_csv``: reading and checking the CSV files ``credit bulk`` takes.
- ``_demo``: the guided tour against an in-process emulator.
- ``_sandbox``: the pre-seeded emulator behind ``--sandbox``, ``demo`` and ``emulator``.
- ``_output``: tables for people, JSON for programs.
"""

from smspartner_async._cli._app import ExitCode, main

__all__ = ["ExitCode", "main"]
