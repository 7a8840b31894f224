"""The operator's unit tests: its pure parts, with no cluster, no network and a fixed clock.

The objects they start from (Tasks, runs, attempts, pod statuses, Trials) are
built by `tests.unit.operator.builders`, which every file here imports.
"""
