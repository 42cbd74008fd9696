"""The course's content: lessons, criteria and the verdict. No torch, so `course list` stays fast."""
