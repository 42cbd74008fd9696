"""Rendering for the terminal (rich) and plots (matplotlib); the only place rich is imported."""
