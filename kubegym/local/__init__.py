"""Running a BenchmarkRun on one machine: task environments, the trial grid, progress, outputs."""
