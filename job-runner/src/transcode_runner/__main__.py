"""`python -m transcode_runner`: the same as the `transcode-runner` command (see `cli`)."""

from transcode_runner.app import cli

if __name__ == "__main__":
    cli.main()
