"""Tools for course authors: verify the lessons, fill documentation markers, RESULTS.md."""
