"""`python -m grader.evaluator`: the clean evaluator process (see grader.evaluator.main)."""

import sys

from grader.evaluator.main import main

sys.exit(main())
