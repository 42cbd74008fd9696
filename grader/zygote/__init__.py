"""The zygote: a fork server that starts workers and evaluators warm (see grader.zygote.server). Needs torch."""
