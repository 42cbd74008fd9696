"""The `course` command line: parse, make one library call, render, map errors to exit codes."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from grader.errors import CourseError

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # torch.compile's; named here to keep torch unimported
EXAMPLES = {
    "check": "Example:\n\n    course check solutions/lesson6/model.py --lesson lesson6",
    "grade": "Example:\n\n    course grade solutions/lesson6/model.py --lesson lesson6 --quick",
    "status": "Example:\n\n    course status --json",
    "list": "Example:\n\n    course list",
    "start": "Example:\n\n    course start lesson1",
    "show": "Example:\n\n    course show lesson2",
    "hint": "Example:\n\n    course hint",
    "reset": "Example:\n\n    course reset lesson3",
    "solution": "Example:\n\n    course solution lesson3 --force",
    "progress": "Example:\n\n    course progress --json",
    "verify": "Example:\n\n    course verify --train --seeds 3 --lesson lesson6",
    "docs": "Example:\n\n    course docs --check",
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
                from grader.views.render import console, show_error

                show_error(str(exc), console(stderr=True))
            sys.exit(exc.exit_code)

    return wrapper


workspace_option = click.option(
    "--workspace", "-w", type=click.Path(file_okay=False),
    help="Folder holding your lessonN/model.py files and progress (default: $COURSE_WORKSPACE, then ./work).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(package_name="course", message="course %(version)s")
@workspace_option
@click.pass_context
def cli(ctx, workspace):
    """Design tiny CNNs for MNIST and have them graded by real training.

    The target: at least 99.4 % test accuracy within 20 epochs with fewer than 20,000 parameters.
    With no command: where you are in the course and the next command to type.

    \b
    Example:
        course start lesson1
        course check
        course grade solutions/lesson6/model.py --quick
    """
    ctx.obj = {"workspace": workspace}
    if ctx.invoked_subcommand is None:
        ctx.invoke(status)


def _workflow(workspace):
    """The workflow over --workspace given to the command, else to `course`, else $COURSE_WORKSPACE / ./work."""
    from grader.workflow import Workflow

    ctx = click.get_current_context()
    return Workflow(workspace or ((ctx.find_root().obj or {}).get("workspace")))


json_option = click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON instead of tables.")
lesson_option = click.option("--lesson", "-l", metavar="LESSON", help="Judge against this lesson's criteria (e.g. lesson6).")
data_option = click.option("--data-dir", type=click.Path(file_okay=False), envvar="COURSE_DATA_DIR",
                           help="Folder with the MNIST IDX files (default: $COURSE_DATA_DIR, then the bundled copy).")


@cli.command(epilog=EXAMPLES["check"])
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@lesson_option
@data_option
@workspace_option
@json_option
@reports_errors
def check(file, lesson, data_dir, workspace, as_json):
    """Check FILE without training: contract, parameters, receptive field, structure (seconds).

    With no FILE: the current lesson's workspace file (or --lesson's), judged by that lesson's criteria; the
    verdict goes into your progress. Exit code 0 when the static criteria pass, 1 when one fails, 2 when
    FILE cannot be checked.
    """
    judged = _workflow(workspace).check(file, lesson, data_dir)
    result = judged.result
    if as_json:
        _json_out({"status": result.verdict.status, "lesson": result.lesson, "report": result.report,
                   "verdict": result.verdict.to_dict(), "recorded": judged.recorded})
    else:
        from grader.views.render import console, show_check, show_recorded

        out = console()
        show_check(result, out)
        show_recorded(judged, out)
    sys.exit(result.verdict.exit_code)


@cli.command(epilog=EXAMPLES["grade"])
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@lesson_option
@click.option("--device", default="auto", show_default=True, help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for weights, shuffling and augmentation.")
@click.option("--epochs", type=click.IntRange(min=1), help="Train at most this many epochs (a shorter try).")
@click.option("--quick", is_flag=True, help="Smoke run: one epoch on a small subset. Never a pass.")
@click.option("--timeout", type=click.IntRange(min=1), help="Wall-clock limit in seconds (default: the lesson's).")
@click.option("--no-plot", is_flag=True, help="Do not save the curves PNG next to FILE.")
@click.option("--compile", "compile_", is_flag=True,
              help="Train through torch.compile: compiling costs time up front; falls back to eager if it fails.")
@click.option("--compile-mode", type=click.Choice(COMPILE_MODES),
              help="torch.compile mode; implies --compile. reduce-overhead adds CUDA graphs on a GPU.")
@click.option("--channels-last", is_flag=True, help="Train in NHWC memory format (can help cuDNN on GPUs).")
@data_option
@workspace_option
@json_option
@reports_errors
def grade(file, lesson, device, seed, epochs, quick, timeout, no_plot, compile_, compile_mode, channels_last, data_dir,
          workspace, as_json):
    """Train FILE with the grader's own loop and judge it.

    With no FILE: the current lesson's workspace file (or --lesson's), judged by that lesson's criteria; the
    verdict goes into your progress. Exit code 0 = passed, 1 = failed a criterion, 2 = could not grade.
    """
    from grader.record import GradeRequest, LoopOptions

    flow = _workflow(workspace)
    if compile_mode:  # the loop takes True for torch.compile's default mode, else the mode's name
        compile_ = True if compile_mode == "default" else compile_mode
    request = GradeRequest(Path(file) if file else None, lesson, device, seed, epochs, quick, data_dir, timeout,
                           LoopOptions(compile_, channels_last))
    if as_json:
        judged = flow.grade(request, plot=not no_plot)
        result = judged.result
        _json_out({**result.record.to_dict(), "plot": str(result.plot) if result.plot else None,
                   "recorded": judged.recorded})
    else:
        from grader.views.render import GradeProgress, console, show_grade, show_recorded

        out = console()
        with GradeProgress(out) as progress:
            judged = flow.grade(request, on_event=progress, plot=not no_plot)
        result = judged.result
        show_grade(result, out)
        show_recorded(judged, out)
    sys.exit(result.verdict.exit_code)


@cli.command(epilog=EXAMPLES["status"])
@workspace_option
@json_option
@reports_errors
def status(workspace, as_json):
    """Where you are in the course and the exact next command to type (also what bare `course` prints)."""
    result = _workflow(workspace).status()
    if as_json:
        _json_out(result.to_dict())
    else:
        from grader.views.render import console, show_status

        show_status(result, console())


@cli.command("list", epilog=EXAMPLES["list"])
@workspace_option
@json_option
@reports_errors
def list_(workspace, as_json):
    """Every lesson with its status (not started / in progress / passed), best result, and overall progress."""
    progress = _workflow(workspace).progress()
    if as_json:
        _json_out(progress.to_dict())
    else:
        from grader.views.render import console, show_list

        show_list(progress, console())


@cli.command(epilog=EXAMPLES["progress"])
@workspace_option
@json_option
@reports_errors
def progress(workspace, as_json):
    """Your progress in detail: when each lesson was started and passed, last run, parameters, hints used."""
    result = _workflow(workspace).progress()
    if as_json:
        _json_out(result.to_dict())
    else:
        from grader.views.render import console, show_progress

        show_progress(result, console())


@cli.command(epilog=EXAMPLES["start"])
@click.argument("lesson")
@workspace_option
@reports_errors
def start(lesson, workspace):
    """Start LESSON: copy its stub to WORKSPACE/LESSON/model.py (never over your work) and show the lesson."""
    started = _workflow(workspace).start(lesson)
    from grader.views.render import console, show_started

    show_started(started, console())


@cli.command(epilog=EXAMPLES["show"])
@click.argument("lesson", required=False)
@workspace_option
@reports_errors
def show(lesson, workspace):
    """Show the text of LESSON (default: the current lesson)."""
    shown = _workflow(workspace).show(lesson)
    from grader.views.render import console, show_lesson

    show_lesson(shown, console())


@cli.command(epilog=EXAMPLES["hint"])
@click.argument("lesson", required=False)
@workspace_option
@reports_errors
def hint(lesson, workspace):
    """The next hint for LESSON (default: the current lesson); one about what your last run failed comes first."""
    answer = _workflow(workspace).hint(lesson)
    from grader.views.render import console, show_hint

    show_hint(answer, console())


@cli.command(epilog=EXAMPLES["reset"])
@click.argument("lesson")
@workspace_option
@reports_errors
def reset(lesson, workspace):
    """Put LESSON's stub back in your workspace; your file is kept as model.py.bak-<time> beside it."""
    done = _workflow(workspace).reset(lesson)
    from grader.views.render import console, show_reset

    show_reset(done, console())


@cli.command(epilog=EXAMPLES["solution"])
@click.argument("lesson")
@click.option("--force", is_flag=True, help="Show it before you have passed the lesson (recorded in your progress).")
@workspace_option
@reports_errors
def solution(lesson, force, workspace):
    """Show LESSON's reference solution: once you have passed the lesson, or earlier with --force."""
    shown = _workflow(workspace).solution(lesson, force)
    from grader.views.render import console, show_solution

    show_solution(shown, console())


@cli.command(epilog=EXAMPLES["verify"])
@click.option("--train", is_flag=True, help="Also train every solution and write solutions/RESULTS.md.")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1), help="With --train: seeds 0..K-1.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.")
@click.option("--lesson", "-l", metavar="LESSON", help="Only this lesson (its row in RESULTS.md is replaced).")
@data_option
@json_option
@reports_errors
def verify(train, seeds, device, lesson, data_dir, as_json):
    """Prove the course: every stub fails its lesson's static checks and every solution passes them.

    With --train, every solution is trained on K seeds through the normal grading path and the results go to
    solutions/RESULTS.md (merged by lesson and device). Exit code 1 if a stub passes or a solution fails.
    """
    from grader.authoring.verify import verify as run_verify

    if as_json:
        report = run_verify(lesson, train, seeds, device, data_dir)
        _json_out(report.to_dict())
    else:
        from grader.views.render import VerifyProgress, console, show_verify

        out = console()
        with VerifyProgress(out) as progress:
            report = run_verify(lesson, train, seeds, device, data_dir, on_event=progress)
        show_verify(report, out)
    sys.exit(report.exit_code)


@cli.command(epilog=EXAMPLES["docs"])
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 listing stale markers.")
@reports_errors
def docs(check_only):
    """Fill the <!-- value: KEY SOURCE --> markers in README.md and lessons/*/README.md with computed numbers.

    Exit code 1 when a marker is stale (--check) or has no trained results yet, 2 when a marker is broken.
    """
    from grader.authoring.docs import run

    report = run(check=check_only)
    from grader.views.render import console, show_docs

    show_docs(report, check_only, console())
    sys.exit(1 if report.missing or (check_only and report.changes) else 0)


# ------------------------------------------------------------------ instructors: gradebook, batch, leaderboard

GRADEBOOK_EXAMPLES = {
    "grade-all": "Examples:\n\n    course grade-all submissions/ --lesson lesson6 --jobs 4 --db class.sqlite\n\n"
                 "    course grade-all submissions/ --backend ray --address auto --per-gpu 8",
    "leaderboard": "Example:\n\n    course leaderboard --lesson lesson6 --format html -o board.html --db class.sqlite",
    "history": "Example:\n\n    course history lesson6",
}
db_option = click.option("--db", type=click.Path(dir_okay=False), envvar="COURSE_GRADEBOOK",
                         help="Gradebook file (default: $COURSE_GRADEBOOK, then <workspace>/.course/gradebook.sqlite).")


def _root_workspace():
    return (click.get_current_context().find_root().obj or {}).get("workspace")


@cli.command("grade-all", epilog=GRADEBOOK_EXAMPLES["grade-all"])
@click.argument("folder", type=click.Path(file_okay=False))
@lesson_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Gradings at a time (default: 2 per GPU, else half the CPUs, at least 2; with --backend ray, what the cluster fits).")
@click.option("--devices", help="Comma-separated devices to spread over, e.g. cuda:0,cuda:1 (default: every visible GPU, else cpu).")
@click.option("--seeds", default=1, show_default=True, type=click.IntRange(min=1), help="Grade each submission with seeds 0..K-1.")
@db_option
@click.option("--regrade", is_flag=True, help="Grade again what the gradebook already has (same file, lesson, seed, grader).")
@click.option("--quick", is_flag=True, help="Smoke runs: one epoch on a small subset. Never a pass.")
@click.option("--epochs", type=click.IntRange(min=1), help="Train at most this many epochs.")
@click.option("--timeout", type=click.IntRange(min=1), help="Wall-clock limit per grading in seconds (default: the lesson's).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where the gradings run: processes on this machine, or tasks on a Ray cluster (pip install -e \".[ray]\").")
@click.option("--address", help="Ray: the cluster to join, auto or HOST:PORT (default: start one on this machine).")
@click.option("--per-gpu", type=click.IntRange(min=1), help="Ray: gradings that share one GPU (default 1).")
@data_option
@json_option
@reports_errors
def grade_all(folder, lesson, jobs, devices, seeds, db, regrade, quick, epochs, timeout, backend, address, per_gpu,
              data_dir, as_json):
    """Grade every submission in FOLDER: FOLDER/<student>/model.py, FOLDER/<student>.py or FOLDER/<student>.zip.

    Runs already in the gradebook are skipped, so an interrupted batch resumes where it stopped. With --backend
    ray each grading is a task on a Ray cluster; this machine still writes the gradebook. Exit code 0 when the
    batch ran (whatever the students' verdicts), 2 when it could not start, 130 after Ctrl-C.
    """
    from grader import api

    device_list = [d.strip() for d in devices.split(",") if d.strip()] if devices else None
    kw = dict(jobs=jobs, devices=device_list, seeds=seeds, db=db, regrade=regrade, quick=quick, epochs=epochs,
              data_dir=data_dir, timeout=timeout, workspace=_root_workspace(), backend=backend, address=address,
              per_gpu=per_gpu)
    if as_json:
        from dataclasses import asdict

        result = api.grade_all(folder, lesson, **kw)
        _json_out({"db": str(result.db), "interrupted": result.interrupted, "seconds": result.seconds,
                   "counts": result.counts(), "identical": result.identical,
                   "outcomes": [asdict(o) for o in result.outcomes]})
    else:
        from grader.views.render import BatchProgress, console, show_batch

        out = console()
        with BatchProgress(out) as progress:
            result = api.grade_all(folder, lesson, on_event=progress, **kw)
        show_batch(result, out)
    sys.exit(130 if result.interrupted else 0)


@cli.command(epilog=GRADEBOOK_EXAMPLES["leaderboard"])
@lesson_option
@click.option("--format", "fmt", default="table", show_default=True,
              type=click.Choice(["table", "csv", "json", "md", "html", "gradescope"]), help="What to produce.")
@click.option("-o", "--output", type=click.Path(), help="Write to this file (a folder for gradescope) instead of stdout.")
@click.option("--anonymize", is_flag=True, help="Stable pseudonyms instead of names; no submission paths.")
@db_option
@reports_errors
def leaderboard(lesson, fmt, output, anonymize, db):
    """Rank the gradebook: one row per student per lesson, their best passing run, else their best run.

    Passed first, then fewer parameters, higher accuracy, fewer epochs to target, earlier submission.
    """
    from grader import api

    result = api.leaderboard(lesson, db, fmt, output, anonymize, workspace=_root_workspace())
    if result.text is not None:
        click.echo(result.text, nl=False)
    else:
        from grader.views.render import console, show_leaderboard

        show_leaderboard(result, console())


@cli.command(epilog=GRADEBOOK_EXAMPLES["history"])
@click.argument("lesson", required=False)
@click.option("--student", help="Whose attempts, in a gradebook with several students.")
@db_option
@workspace_option
@json_option
@reports_errors
def history(lesson, student, db, workspace, as_json):
    """Your gradings, newest first, with what changed since the previous one (params, accuracy, recipe)."""
    from grader import api

    attempts = api.history(lesson, db, student, workspace=workspace or _root_workspace())
    if as_json:
        from dataclasses import asdict

        _json_out([asdict(a) for a in attempts])
    else:
        from grader.views.render import console, show_history

        show_history(attempts, console())


def main():
    cli(prog_name="course")


if __name__ == "__main__":
    main()
