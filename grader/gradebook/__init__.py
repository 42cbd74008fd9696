"""The SQLite gradebook and what reads it: runs, a student's progress, history, leaderboard and exports."""
