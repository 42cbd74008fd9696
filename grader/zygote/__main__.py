"""`python -m grader.zygote`: the fork server (see grader.zygote.server)."""

import sys

from grader.zygote.server import main

sys.exit(main())
