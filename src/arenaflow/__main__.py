"""``python -m arenaflow``: the same command line as ``arenaflow``."""

from arenaflow.cli import main

if __name__ == "__main__":
    main()
