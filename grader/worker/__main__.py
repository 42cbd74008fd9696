"""`python -m grader.worker`: the grading worker process (see grader.worker.main)."""

import sys

from grader.worker.main import main

sys.exit(main())
