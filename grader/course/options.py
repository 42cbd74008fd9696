"""Every option of a grading, declared once: the CLI's options, the API, the notebook, batch jobs, the autograder's
config and the children's tasks are all built from GradeOptions. Also the two budgets derived from it, each decided
in one function: the wall-clock timeout of a grading or a check, and the epoch budget. No torch, no click: each
field's `metadata` carries the words the command line shows, and course.py makes its options from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.course.lesson import Lesson

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile's; named here to keep torch unimported
COURSE_TIMEOUT_S = 3600  # a whole grading (worker, trainer, evaluator) when neither --timeout nor the lesson sets one
CHECK_TIMEOUT_S = 120  # a check trains nothing: seconds are plenty, and a hanging forward ends soon


def _cli(help: str, *, flag: str | None = None, minimum: int | None = None, envvar: str | None = None,
         choices: tuple[str, ...] | None = None, choice_help: str | None = None) -> dict[str, Any]:
    """What the command line shows for a field (course.py reads it): its help, flag spelling, bounds, env var, and
    the choices of a field that is a flag or one of several words (compile), with their help."""
    return {"help": help, "flag": flag, "min": minimum, "envvar": envvar, "choices": choices,
            "choice_help": choice_help}


@dataclass(frozen=True)
class LoopOptions:
    """Speed-ups of the training loop that leave what is computed unchanged, up to float rounding."""

    # torch.compile of the program's fx graph (grader.trainer.fused): on a CPU inductor fuses each block's BatchNorm,
    # ReLU and dropout multiply, about a third off a lesson-6 step (docs/performance.md), for two compiles up front
    # (the full batch and an epoch's smaller last one: tens of seconds). Opt-in until its accuracy parity is shown.
    # True, or a torch.compile mode: "reduce-overhead" also replays the step as CUDA graphs on a GPU.
    compile: bool | str = field(default=False, metadata=_cli(
        "Train through torch.compile: compiling costs time up front; falls back to eager if it fails.",
        choices=COMPILE_MODES,
        choice_help="torch.compile mode; implies --compile. reduce-overhead adds CUDA graphs on a GPU."))
    # NHWC memory: oneDNN's CPU convolutions run a lesson-6 step about 10 % faster in it on 2 threads
    # (benchmarks/profile_step.py), and it can help cuDNN on GPUs. Opt-in: it changes the float order, and its
    # 20-epoch parity (benchmarks/results/cpu-channels-last-parity-2026-11-28/, 3 seeds) ended above the default
    # layout on average, in its favour but outside the 0.05 a default must meet. A model that cannot run in it (a
    # .view() over channels, say) trains in the default layout, with a warning (grader.trainer.train).
    channels_last: bool = field(default=False, metadata=_cli(
        "Train in NHWC memory format (faster convolutions on a CPU, can help cuDNN on GPUs); a model that fails in "
        "it trains without it, with a warning."))
    # Draw CPU dropout masks with grader.trainer.speed.keep_mask (the trainer's module draws the program's dropout with
    # it, no patch of torch): the same Bernoulli masks from fewer random draws,
    # most of the loop's lead over the reference pipeline on a CPU (docs/performance.md). On by default since its
    # 20-epoch mean final accuracy (3 seeds) lies within 0.05 points of the reference pipeline's
    # (benchmarks/results/cpu-reference-parity-2026-11-28/). A call it cannot draw (a Parameter, say) goes to torch's
    # own kernel and the run's warnings count it; GPUs keep torch's fused kernel.
    fast_dropout: bool = field(default=True, metadata=_cli(
        "On a CPU, draw dropout masks the cheaper way (the default: the same Bernoulli masks from fewer random "
        "draws), or with torch's own kernel.", flag="--fast-dropout/--torch-dropout"))
    # On a CUDA device, record the training step once as a CUDA graph and replay it (grader.trainer.graphed): a
    # small net's step is launch-bound there. On by default; SGD only, anything else trains eagerly and says why.
    cuda_graph: bool = field(default=True, metadata=_cli(
        "On a GPU, record the training step once and replay it (the default; needs plain SGD, anything else "
        "trains eagerly).", flag="--cuda-graph/--no-cuda-graph"))

    @classmethod
    def from_dict(cls, raw: dict | None) -> LoopOptions:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (raw or {}).items() if k in names})


@dataclass(frozen=True)
class GradeOptions:
    """How to grade, whatever is graded and whoever asks: the one declaration of every grading option."""

    # auto picks the best device this machine has (cuda > mps > cpu): a student should not have to know theirs
    device: str = field(default="auto", metadata=_cli("auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps."))
    # 0: the same seed everywhere (check, grade, RESULTS.md) so a student sees the figures the course shows;
    # weights, shuffling, augmentation and dropout all follow it
    seed: int = field(default=0, metadata=_cli("Seed for weights, shuffling and augmentation."))
    # None: the recipe's EPOCHS within the lesson's budget; a number caps it further, for a shorter try
    epochs: int | None = field(default=None, metadata=_cli(
        "Train at most this many epochs (a shorter try).", minimum=1))
    # off: a smoke run (one epoch on a subset) proves the path, never an accuracy, so it must be asked for
    quick: bool = field(default=False, metadata=_cli("Smoke run: one epoch on a small subset. Never a pass."))
    # None: decided by grading_timeout (the lesson's, else COURSE_TIMEOUT_S), or CHECK_TIMEOUT_S for a check
    timeout: float | None = field(default=None, metadata=_cli(
        "Wall-clock limit of one grading in seconds (default: the lesson's).", minimum=1))
    # None: $COURSE_DATA_DIR, then the copy bundled with the course (grader.mnist), which works offline
    data_dir: str | None = field(default=None, metadata=_cli(
        "Folder with the MNIST IDX files (default: $COURSE_DATA_DIR, then the bundled copy).",
        envvar="COURSE_DATA_DIR"))
    # A model that already fails a static criterion (too many parameters, a missing BatchNorm) is failed without
    # training: minutes of CPU cannot change that verdict. True trains it anyway, to watch it learn.
    train_anyway: bool = field(default=False, metadata=_cli(
        "Train even when a static criterion already fails (the verdict stays failed)."))
    # off: a grading measures the test set, as the assignment's rule does. On, a student choosing between designs
    # trains on the first 55,000 training images and measures the last 5,000 (grader.mnist's validation split), so
    # the test set confirms once, at the end; a validation run is never a pass.
    validate: bool = field(default=False, metadata=_cli(
        "Choose a design: train on the first 55,000 training images and measure on the last 5,000 instead of the "
        "test set. Never a pass."))
    # the defaults of LoopOptions: each has its own why there
    loop: LoopOptions = LoopOptions()

    @classmethod
    def of(cls, **values) -> GradeOptions:
        """From flat names, the loop's among them (`GradeOptions.of(quick=True, channels_last=True)`); an unknown
        name is a TypeError, as a misspelt keyword is."""
        loop_names = {f.name for f in fields(LoopOptions)}
        loop = {k: values.pop(k) for k in list(values) if k in loop_names}
        return cls(**values, loop=LoopOptions(**loop))

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict | None) -> GradeOptions:
        names = {f.name for f in fields(cls)} - {"loop"}
        raw = raw or {}
        return cls(**{k: v for k, v in raw.items() if k in names}, loop=LoopOptions.from_dict(raw.get("loop")))


def names() -> tuple[str, ...]:
    """Every grading option's name, the loop's included: what no signature or config may declare again."""
    return tuple(f.name for f in fields(GradeOptions) if f.name != "loop") + tuple(f.name for f in fields(LoopOptions))


def grading_timeout(options: GradeOptions, lesson: Lesson | None) -> float:
    """The wall-clock budget of one grading: --timeout, else the lesson's, else the course's."""
    if options.timeout:
        return float(options.timeout)
    return float(lesson.timeout if lesson is not None and lesson.timeout else COURSE_TIMEOUT_S)


def check_timeout(options: GradeOptions) -> float:
    """The wall-clock budget of one check: --timeout, else CHECK_TIMEOUT_S."""
    return float(options.timeout or CHECK_TIMEOUT_S)


def epoch_budget(max_epochs: int, epochs: int | None) -> int:
    """The most epochs a grading may train: the lesson's max_epochs, lowered by --epochs (GradeOptions.epochs)."""
    return max_epochs if epochs is None else min(max_epochs, int(epochs))


def for_children(options: GradeOptions, timeout: float) -> GradeOptions:
    """The options a child is told: its budget decided, and no data folder (the parent hands it the split)."""
    return replace(options, timeout=timeout, data_dir=None)
