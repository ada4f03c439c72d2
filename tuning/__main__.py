"""``python -m tuning``: the ``tuning`` command (`tuning.cli`)."""

from tuning.cli import exit_process, main

if __name__ == "__main__":
    exit_process(main())
