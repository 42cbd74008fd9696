"""The trusted trainer process: trains the exported program, never imports a submission. Needs torch."""
