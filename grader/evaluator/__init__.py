"""The clean evaluator process: holds the test set and never imports a submission. Needs torch."""
