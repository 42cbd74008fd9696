"""The walls around untrusted code: the static policy (parent) and the OS sandbox (applied by a child to itself)."""
