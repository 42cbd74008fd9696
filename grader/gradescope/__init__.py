"""Gradescope: the autograder zip and its run on one submission, and results.json in Gradescope's format."""
