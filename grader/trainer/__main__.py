"""`python -m grader.trainer`: the trusted trainer process (see grader.trainer.main)."""

import sys

from grader.trainer.main import main

sys.exit(main())
