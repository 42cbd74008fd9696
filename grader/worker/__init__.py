"""The sandboxed worker process: the only code that imports a submission. Needs torch."""
