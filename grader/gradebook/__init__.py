"""The SQLite gradebook and what reads or fills it: runs, progress, batches, leaderboard, exports, history."""
