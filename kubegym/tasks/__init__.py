"""Tasks: the catalog of Task folders and everything a task needs before an agent starts.

`catalog` finds and selects Task folders (`TaskBundle`); `sources` fetches a
dataset's declared source; `preparation` runs a task's data-preparation script
once per content hash; `datasets` resolves a task's dataset to a checked folder
on this machine; `venvs` builds the one cached virtual environment per set of
requirements. Called by the local runner, the evaluator, the image builder and
the CLI; it imports only `kubegym.api` and `kubegym.errors`.
"""
