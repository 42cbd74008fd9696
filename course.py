"""The `course` command line: parse, make one library call, render, map errors to exit codes."""

from __future__ import annotations

import functools
import json
import sys

import click

from grader.errors import CourseError

EXAMPLES = {
    "check": "Example:\n\n    course check solutions/lesson6/model.py --lesson lesson6",
    "grade": "Example:\n\n    course grade solutions/lesson6/model.py --lesson lesson6 --quick",
}


def _json_out(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def reports_errors(fn):
    """Turn a library CourseError into a one-line message and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CourseError as exc:
            ctx = click.get_current_context()
            if ctx.params.get("as_json"):
                _json_out({"status": "error", "kind": exc.kind, "message": str(exc), "exit_code": exc.exit_code})
            else:
                from grader.render import console, show_error

                show_error(str(exc), console(stderr=True))
            sys.exit(exc.exit_code)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="course", message="course %(version)s")
def cli():
    """Design tiny CNNs for MNIST and have them graded by real training.

    The target: at least 99.4 % test accuracy within 20 epochs with fewer than 20,000 parameters.

    \b
    Example:
        course check solutions/lesson6/model.py
        course grade solutions/lesson6/model.py --quick
    """


json_option = click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON instead of tables.")
lesson_option = click.option("--lesson", "-l", metavar="LESSON", help="Judge against this lesson's criteria (e.g. lesson6).")
data_option = click.option("--data-dir", type=click.Path(file_okay=False), envvar="COURSE_DATA_DIR",
                           help="Folder with the MNIST IDX files (default: $COURSE_DATA_DIR, then the bundled copy).")


@cli.command(epilog=EXAMPLES["check"])
@click.argument("file", type=click.Path(dir_okay=False))
@lesson_option
@data_option
@json_option
@reports_errors
def check(file, lesson, data_dir, as_json):
    """Check FILE without training: contract, parameters, receptive field, structure (seconds).

    Exit code 0 when the static criteria pass, 1 when one fails, 2 when FILE cannot be checked.
    """
    from grader import api

    result = api.check(file, lesson, data_dir)
    if as_json:
        _json_out({"status": result.verdict.status, "lesson": result.lesson, "report": result.report,
                   "verdict": result.verdict.to_dict()})
    else:
        from grader.render import console, show_check

        show_check(result, console())
    sys.exit(result.verdict.exit_code)


@cli.command(epilog=EXAMPLES["grade"])
@click.argument("file", type=click.Path(dir_okay=False))
@lesson_option
@click.option("--device", default="auto", show_default=True, help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for weights, shuffling and augmentation.")
@click.option("--epochs", type=click.IntRange(min=1), help="Train at most this many epochs (a shorter try).")
@click.option("--quick", is_flag=True, help="Smoke run: one epoch on a small subset. Never a pass.")
@click.option("--timeout", type=click.IntRange(min=1), help="Wall-clock limit in seconds (default: the lesson's).")
@click.option("--no-plot", is_flag=True, help="Do not save the curves PNG next to FILE.")
@data_option
@json_option
@reports_errors
def grade(file, lesson, device, seed, epochs, quick, timeout, no_plot, data_dir, as_json):
    """Train FILE with the grader's own loop and judge it.

    Exit code 0 = passed, 1 = failed a criterion, 2 = could not grade.
    """
    from grader import api

    if as_json:
        result = api.grade(file, lesson, device, seed, epochs, quick, data_dir, timeout, plot=not no_plot)
        _json_out({**result.record, "plot": str(result.plot) if result.plot else None})
    else:
        from grader.render import GradeProgress, console, show_grade

        out = console()
        with GradeProgress(out) as progress:
            result = api.grade(file, lesson, device, seed, epochs, quick, data_dir, timeout, on_event=progress, plot=not no_plot)
        show_grade(result, out)
    sys.exit(result.verdict.exit_code)


def main():
    cli(prog_name="course")


if __name__ == "__main__":
    main()
