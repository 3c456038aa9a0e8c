"""The runner's composition root: the command line (`cli`) and one attempt (`pipeline`).

`transcode_runner.__main__` and the `transcode-runner` console script call
`cli.main`, which builds the settings and the real seams from
`transcode_runner.io` and runs `pipeline.run`; nothing below imports this layer.
"""
