"""Batch grading: a folder of submissions graded as jobs on a pool (this machine or a Ray cluster), recorded by
the batch's head into the gradebook (grader.gradebook)."""
