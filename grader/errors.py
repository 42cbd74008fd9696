"""Domain errors. The CLI maps each to a message and an exit code; the library never exits."""


class CourseError(Exception):
    """Base for every error the CLI reports as a message instead of a traceback."""

    exit_code = 2
    kind = "error"


class UsageError(CourseError):
    """The command was asked for something that cannot be done (unknown lesson, bad option)."""

    kind = "usage"


class DataError(CourseError):
    """MNIST files are missing or do not match their checksum."""

    kind = "data"


class SubmissionError(CourseError):
    """The submission breaks the contract (no Net, wrong output shape, bad recipe ...)."""

    kind = "submission"


class ManifestError(CourseError):
    """A lesson.toml is malformed; the message names the field."""

    kind = "manifest"


class TrainingError(CourseError):
    """Training could not go on: divergence, a scheduler that raises, a timeout."""

    kind = "training"


class PolicyError(SubmissionError):
    """The submission uses something the static policy refuses; nothing of it was run."""

    kind = "policy"


class IntegrityError(CourseError):
    """The run's numbers cannot be trusted: evaluation mismatch, hidden parameters, weights not trained here."""

    kind = "integrity"


class DocsError(CourseError):
    """`course docs` markers that cannot be filled: unknown key, missing source, a model that does not build."""

    kind = "docs"
