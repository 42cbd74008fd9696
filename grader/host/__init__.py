"""The parent's side of a grading (the CLI's process): starts children, reads their events. No torch."""
