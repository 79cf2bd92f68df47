"""Tasks, suites and their loaders."""
