"""The `course` command line: parse, make one library call, render, map errors to exit codes."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import sys
from pathlib import Path

import click

from grader.course import options as grading
from grader.errors import CourseError

EXAMPLES = {
    "check": "Example:\n\n\b\n    course check solutions/lesson6/model.py --lesson lesson6\n"
             "    course check model.py --lesson lesson6 --format github   # in a GitHub Actions step",
    "grade": "Example:\n\n    course grade solutions/lesson6/model.py --lesson lesson6 --quick",
    "status": "Example:\n\n    course status --json",
    "list": "Example:\n\n    course list",
    "start": "Example:\n\n    course start lesson1",
    "show": "Example:\n\n    course show lesson2",
    "hint": "Example:\n\n    course hint",
    "reset": "Example:\n\n    course reset lesson3",
    "solution": "Example:\n\n    course solution lesson3 --force",
    "answer": "Example:\n\n    course answer lesson2 rf-row8 22",
    "progress": "Example:\n\n    course progress --json",
    "verify": "Examples:\n\n\b\n    course dev verify --train --seeds 3 --lesson lesson6\n"
              "    course dev verify --train -l lesson7 --seeds 5 --first-seed 5\n"
              "    course dev verify --train -l lesson6 --seeds 2 --first-seed 1 --extend \\\n"
              "        --file solutions/lesson6/hint_path.py",
    "docs": "Example:\n\n    course dev docs --check",
    "watch": "Example:\n\n\b\n    course watch lesson3\n"
             "    course watch --manual        # WSL, network drives: Enter re-checks",
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
            if ctx.params.get("as_json") or ctx.params.get("fmt") == "json":
                _json_out({"status": "error", "kind": exc.kind, "message": str(exc), "exit_code": exc.exit_code})
            elif ctx.params.get("brief"):
                from grader.views import brief

                files = ctx.params.get("files") or [None]
                for line in brief.error_lines(str(exc), files[0]):
                    click.echo(line)
            elif ctx.params.get("fmt") == "github":
                from grader.views import github

                files = ctx.params.get("files") or [ctx.params.get("file")]
                github.show_error(str(exc), files[0], ctx.info_name, click.echo)
            else:
                from grader.views.console import console, show_error

                show_error(str(exc), console(stderr=True))
            sys.exit(exc.exit_code)

    return wrapper


workspace_option = click.option(
    "--workspace", "-w", type=click.Path(file_okay=False),
    help="Folder holding your lessonN/model.py files and progress (default: $COURSE_WORKSPACE, then ./work).")


# `course --help` reads by audience: a student's commands in the order of their day, then the groups of the
# instructors' and the course authors' commands (whose old top-level spellings still work, unlisted).
STUDENT_ORDER = ("status", "start", "show", "check", "grade", "watch", "hint", "answer", "list", "progress",
                 "history", "reset", "solution")


class CourseGroup(click.Group):
    """The `course` group: students' commands first, in STUDENT_ORDER, then the groups for other audiences."""

    def list_commands(self, ctx):
        order = {name: i for i, name in enumerate(STUDENT_ORDER)}
        return sorted(self.commands, key=lambda name: (isinstance(self.commands[name], click.Group),
                                                       order.get(name, len(order)), name))

    def format_commands(self, ctx, formatter):
        shown = [(name, self.commands[name]) for name in self.list_commands(ctx) if not self.commands[name].hidden]
        limit = formatter.width - 6 - max((len(name) for name, _ in shown), default=0)  # as click.Group's
        rows: dict[bool, list] = {False: [], True: []}
        for name, command in shown:
            rows[isinstance(command, click.Group)].append((name, command.get_short_help_str(limit)))
        for title, grouped in (("Commands", False), ("For instructors and course authors", True)):
            if rows[grouped]:
                with formatter.section(title):
                    formatter.write_dl(rows[grouped])


@click.group(cls=CourseGroup, context_settings={"help_option_names": ["-h", "--help"]},
             invoke_without_command=True)
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
lesson_option = click.option("--lesson", "-l", metavar="LESSON",
                             help="Judge against this lesson's criteria (e.g. lesson6).")


class GradingOption(click.Option):
    """A click option made from a GradeOptions field (grading_options): the only way a command takes one."""


def _grading_option(f: dataclasses.Field) -> list[tuple[list[str], dict]]:
    """The click option(s) of one GradeOptions (or LoopOptions) field, from the words in its metadata."""
    cli, name = f.metadata, f.name
    flag = cli.get("flag") or "--" + name.replace("_", "-")
    kind = str(f.type)
    common = {"help": cli["help"], "envvar": cli.get("envvar")}
    if name == "compile":  # True for torch.compile's default mode, else the mode's name: two spellings, one field
        return [(["--compile", name], {"is_flag": True, "help": cli["help"]}),
                (["--compile-mode", "compile_mode"], {"type": click.Choice(cli["choices"]),
                                                      "help": cli["choice_help"]})]
    if kind.startswith("bool"):
        switch = {} if "/" in flag else {"is_flag": True}  # --on/--off pairs are flags by their spelling
        return [([flag, name], {**switch, "default": f.default, **common})]
    if name == "data_dir":
        return [([flag, name], {"type": click.Path(file_okay=False), **common})]
    if kind.startswith(("int", "float")):
        number = click.IntRange(min=cli["min"]) if cli.get("min") is not None else int
        return [([flag, name], {"type": number, "default": f.default, "show_default": f.default is not None,
                                **common})]
    return [([flag, name], {"default": f.default, "show_default": True, **common})]


def _grading_fields() -> list[dataclasses.Field]:
    loop = list(dataclasses.fields(grading.LoopOptions))
    return [f for f in dataclasses.fields(grading.GradeOptions) if f.name != "loop"] + loop


def grading_options(*only: str, without: tuple[str, ...] = ()):
    """The command's grading options (GradeOptions' fields: `only` these, or all but `without`), handed to it as
    one `options` argument: the one place a command declares any."""
    chosen = [f for f in _grading_fields() if (not only or f.name in only) and f.name not in without]
    params = [p for f in chosen for p in _grading_option(f)]
    names = [decls[-1] for decls, _ in params]

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            values = {name: kwargs.pop(name) for name in names}
            mode = values.pop("compile_mode", None)
            if mode:  # the loop takes True for torch.compile's default mode, else the mode's name
                values["compile"] = True if mode == "default" else mode
            return fn(*args, options=grading.GradeOptions.of(**values), **kwargs)

        for decls, settings in reversed(params):
            wrapper = click.option(*decls, cls=GradingOption, **settings)(wrapper)
        return wrapper

    return decorate


format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
    help="text: tables; json: the full result (same as --json); github: GitHub Actions annotations and a job "
         "summary in $GITHUB_STEP_SUMMARY.")


def _check_dict(judged) -> dict:
    result = judged.result
    return {"file": str(judged.target.file), "status": result.verdict.status, "lesson": result.lesson,
            "report": result.report, "verdict": result.verdict.to_dict(), "recorded": judged.recorded}


def _show_check(judged, fmt: str, out) -> None:
    result = judged.result
    if fmt == "json":
        _json_out(_check_dict(judged))
    elif fmt == "brief":
        from grader.views import brief

        for line in brief.check_lines(result.verdict, judged.target.file):
            click.echo(line)
    elif fmt == "github":
        from grader.views import github

        github.show_check(result, judged.target.file, click.echo)
    else:
        from grader.views.student import show_check, show_recorded

        # a file judged by a lesson that is not its own must name it again to be graded by it
        show_check(result, out, name_lesson=judged.target.record_as != judged.target.lesson)
        show_recorded(judged, out)


@cli.command(epilog=EXAMPLES["check"])
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@lesson_option
@grading_options("data_dir")
@workspace_option
@json_option
@format_option
@click.option("--brief", is_flag=True,
              help="Only what fails, one line each (FILE:LINE: criterion: measured, needs), for pre-commit and CI.")
@reports_errors
def check(files, lesson, options, workspace, as_json, fmt, brief):
    """Check FILE without training: contract, parameters, receptive field, structure (seconds).

    With no FILE: the current lesson's workspace file (or --lesson's), judged by that lesson's criteria; the
    verdict goes into your progress. Several FILEs (as pre-commit passes them) are checked one by one, each
    workspace file by its own lesson. Exit code 0 when the static criteria pass, 1 when one fails, 2 when a
    FILE cannot be checked.
    """
    from grader.record import GradeRequest
    from grader.views.console import console, show_error

    fmt = "json" if as_json else ("brief" if brief else fmt)
    out = console()
    if len(files) <= 1:
        judged = _workflow(workspace).check(GradeRequest(Path(files[0]) if files else None, lesson, options))
        _show_check(judged, fmt, out)
        sys.exit(judged.result.verdict.exit_code)
    outcomes = _workflow(workspace).check_each(files, lesson, options)
    if fmt == "json":  # one document: a list with each file's result or error
        _json_out([_check_dict(o.judged) if o.error is None else
                   {"file": str(o.file), "status": "error", "kind": o.error.kind, "message": str(o.error),
                    "exit_code": o.error.exit_code} for o in outcomes])
    else:
        for outcome in outcomes:
            if outcome.error is None:
                _show_check(outcome.judged, fmt, out)
            elif fmt == "github":
                from grader.views import github

                github.show_error(str(outcome.error), outcome.file, "check", click.echo)
            elif fmt == "brief":
                from grader.views import brief

                for line in brief.error_lines(str(outcome.error), outcome.file):
                    click.echo(line)
            else:
                message = str(outcome.error)
                show_error(message if str(outcome.file) in message else f"{outcome.file}: {message}",
                           console(stderr=True))
    sys.exit(max(o.exit_code for o in outcomes))


@cli.command(epilog=EXAMPLES["grade"])
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@lesson_option
@grading_options()
@click.option("--no-plot", is_flag=True, help="Do not save the curves PNG next to FILE.")
@workspace_option
@json_option
@format_option
@reports_errors
def grade(file, lesson, options, no_plot, workspace, as_json, fmt):
    """Train FILE with the grader's own loop and judge it.

    With no FILE: the current lesson's workspace file (or --lesson's), judged by that lesson's criteria; the
    verdict goes into your progress. Exit code 0 = passed, 1 = failed a criterion, 2 = could not grade.
    """
    from grader.record import GradeRequest

    flow = _workflow(workspace)
    request = GradeRequest(Path(file) if file else None, lesson, options)
    epochs = options.epochs
    fmt = "json" if as_json else fmt
    if fmt == "json":
        judged = flow.grade(request, plot=not no_plot)
        result = judged.result
        _json_out({**result.record.to_dict(), "plot": str(result.plot) if result.plot else None,
                   "recorded": judged.recorded})
    elif fmt == "github":  # the log shows plain progress lines; the verdict goes to annotations and the summary
        from grader.views import github
        from grader.views.console import console
        from grader.views.student import GradeProgress

        with GradeProgress(console(), asked_epochs=epochs) as progress:
            judged = flow.grade(request, on_event=progress, plot=not no_plot)
        result = judged.result
        github.show_grade(result, judged.target.file, click.echo)
    else:
        from grader.views.console import console
        from grader.views.student import GradeProgress, show_grade, show_recorded

        out = console()
        with GradeProgress(out, asked_epochs=epochs) as progress:
            judged = flow.grade(request, on_event=progress, plot=not no_plot)
        result = judged.result
        show_grade(result, out, asked_epochs=epochs)
        show_recorded(judged, out)
    sys.exit(result.verdict.exit_code)


@cli.command(epilog=EXAMPLES["watch"])
@click.argument("lesson", required=False)
@click.option("--file", "file", type=click.Path(dir_okay=False),
              help="Watch this file instead of the lesson's work file.")
@click.option("--manual", is_flag=True, help="Check again on Enter instead of on save (for WSL and network drives).")
@grading_options()
@workspace_option
@reports_errors
def watch(lesson, file, manual, options, workspace):
    """Check LESSON's work file (default: the current lesson's) on every save, with the criteria table on screen.

    Keys: g grades it (trains for real, with the grading options given here; --quick for a smoke run), h shows the
    next hint, Enter checks again, q quits. Verdicts go into your progress as with `course check` and `course grade`.
    """
    from grader.record import GradeRequest
    from grader.views.console import console
    from grader.views.watch import WatchScreen
    from grader.watch import watch as run_watch

    screen = WatchScreen(console(), manual=manual, quick=options.quick)
    request = GradeRequest(None, options=options)
    summary = run_watch(_workflow(workspace), lesson, screen, file=file, manual=manual, request=request)
    screen.bye(summary)


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
        from grader.views.console import console
        from grader.views.student import show_status

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
        from grader.views.console import console
        from grader.views.student import show_list

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
        from grader.views.console import console
        from grader.views.student import show_progress

        show_progress(result, console())


@cli.command(epilog=EXAMPLES["start"])
@click.argument("lesson")
@workspace_option
@reports_errors
def start(lesson, workspace):
    """Start LESSON: copy its stub to WORKSPACE/LESSON/model.py (never over your work) and show the lesson."""
    started = _workflow(workspace).start(lesson)
    from grader.views.console import console
    from grader.views.student import show_started

    show_started(started, console())


@cli.command(epilog=EXAMPLES["show"])
@click.argument("lesson", required=False)
@workspace_option
@reports_errors
def show(lesson, workspace):
    """Show the text of LESSON (default: the current lesson)."""
    shown = _workflow(workspace).show(lesson)
    from grader.views.console import console
    from grader.views.student import show_lesson

    show_lesson(shown, console())


@cli.command(epilog=EXAMPLES["hint"])
@click.argument("lesson", required=False)
@workspace_option
@reports_errors
def hint(lesson, workspace):
    """The next hint for LESSON (default: the current lesson); one about what your last run failed comes first."""
    answer = _workflow(workspace).hint(lesson)
    from grader.views.console import console
    from grader.views.student import show_hint

    show_hint(answer, console())


@cli.command(epilog=EXAMPLES["answer"])
@click.argument("lesson")
@click.argument("exercise", required=False)
@click.argument("value", required=False)
@workspace_option
@reports_errors
def answer(lesson, exercise, value, workspace):
    """Check VALUE as your answer to EXERCISE of LESSON (find-the-error tables); with no VALUE, show the answer.

    The lesson's README names its exercises; `course answer LESSON` lists them.
    """
    answered = _workflow(workspace).answer(lesson, exercise, value)
    from grader.views.console import console
    from grader.views.student import show_answer

    show_answer(answered, console())
    sys.exit(0 if answered.attempt is None or answered.attempt.correct else 1)


@cli.command(epilog=EXAMPLES["reset"])
@click.argument("lesson")
@workspace_option
@reports_errors
def reset(lesson, workspace):
    """Put LESSON's stub back in your workspace; your file is kept as model.py.bak-<time> beside it."""
    done = _workflow(workspace).reset(lesson)
    from grader.views.console import console
    from grader.views.student import show_reset

    show_reset(done, console())


@cli.command(epilog=EXAMPLES["solution"])
@click.argument("lesson")
@click.option("--force", is_flag=True, help="Show it before you have passed the lesson (recorded in your progress).")
@workspace_option
@reports_errors
def solution(lesson, force, workspace):
    """Show LESSON's reference solution: once you have passed the lesson, or earlier with --force."""
    shown = _workflow(workspace).solution(lesson, force)
    from grader.views.console import console
    from grader.views.student import show_solution

    show_solution(shown, console())


@cli.group(epilog="Examples:\n\n\b\n    course teach grade-all submissions/ --lesson lesson6\n"
                   "    course teach leaderboard --lesson lesson6 --format html -o board.html")
def teach():
    """Instructors: grade a class's submissions, rank them, build Gradescope's autograder."""


@cli.group(epilog="Examples:\n\n\b\n    course dev verify --train --lesson lesson6\n    course dev docs --check")
def dev():
    """Course authors: prove the lessons and solutions, fill the numbers in the docs."""


@dev.command(epilog=EXAMPLES["verify"])
@click.option("--train", is_flag=True, help="Also train every solution and write solutions/RESULTS.md.")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1), help="With --train: seeds 0..K-1.")
@click.option("--first-seed", default=0, show_default=True, type=click.IntRange(min=0), metavar="N",
              help="With --train: seeds N..N+K-1 instead, to confirm a design on seeds it was not chosen on (its "
                   "rows sit beside the seed-0 rows).")
@click.option("--extend", is_flag=True,
              help="With --first-seed N: add the new seeds to each file's row of seeds 0..N-1 (it must still "
                   "describe the file) instead of a row of their own, so a comparison gains seeds.")
@click.option("--lesson", "-l", metavar="LESSON", help="Only this lesson (its rows in RESULTS.md are replaced).")
@click.option("--only", type=click.Choice(["solutions", "extras"]),
              help="With --train: train only the solutions, or only the extra files lessons list in [verify].")
@click.option("--file", "only_file", metavar="PATH",
              help="With --train: only this solution or [verify] extra (its repo-relative path).")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(min=1),
              help="With --train: trainings at a time, started warm (a GPU trains many tiny models side by side).")
@grading_options("device", "quick", "data_dir", "validate")
@json_option
@reports_errors
def verify(train, seeds, first_seed, extend, lesson, only, only_file, jobs, options, as_json):
    """Prove the course: every stub fails its lesson's static checks and every solution passes them.

    With --train, every solution, and every extra file a lesson.toml lists under [verify] (hint paths,
    comparisons), is trained on K seeds through the normal grading path and the results go to
    solutions/RESULTS.md (merged by lesson, file and device); with --quick they are smoke runs that prove the path
    and RESULTS.md is not touched. Exit code 1 if a stub passes, a solution fails, or an extra does not go the way
    its lesson says.
    """
    from grader.authoring.verify import verify as run_verify

    if as_json:
        report = run_verify(lesson, train, seeds, options, only=only, jobs=jobs, first_seed=first_seed,
                            file=only_file, extend=extend)
        _json_out(report.to_dict())
    else:
        from grader.views.author import VerifyProgress, show_verify
        from grader.views.console import console

        out = console()
        with VerifyProgress(out) as progress:
            report = run_verify(lesson, train, seeds, options, on_event=progress, only=only, jobs=jobs,
                                first_seed=first_seed, file=only_file, extend=extend)
        show_verify(report, out)
    sys.exit(report.exit_code)


@dev.command(epilog=EXAMPLES["docs"])
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 listing stale markers.")
@reports_errors
def docs(check_only):
    """Fill the <!-- value: KEY SOURCE --> markers in README.md and lessons/*/README.md with computed numbers.

    Exit code 1 when a marker is stale (--check) or has no trained results yet, 2 when a marker is broken.
    Markers of files that `course dev verify --train` trains but has not yet (a new hint path or comparison) are
    listed as awaiting training, left as they are, and do not change the exit code.
    """
    from grader.authoring.docs import run

    report = run(check=check_only)
    from grader.views.author import show_docs
    from grader.views.console import console

    show_docs(report, check_only, console())
    sys.exit(1 if report.missing or (check_only and report.changes) else 0)


# ------------------------------------------------------------------ instructors: gradebook, batch, leaderboard

GRADEBOOK_EXAMPLES = {
    "grade-all": "Examples:\n\n    course teach grade-all submissions/ --lesson lesson6 --jobs 4\n\n"
                 "    course teach grade-all submissions/ --backend ray --address auto --per-gpu 8",
    "leaderboard": "Example:\n\n    course teach leaderboard --lesson lesson6 --format html -o board.html "
                   "--db class.sqlite",
    "history": "Example:\n\n    course history lesson6",
    "autograder": "Example:\n\n    course teach autograder lesson3 -o autograder.zip",
    "run-autograder": "Example (what the zip's run_autograder does on Gradescope):\n\n"
                      "    course teach run-autograder --root /autograder",
}
db_option = click.option("--db", type=click.Path(dir_okay=False), envvar="COURSE_GRADEBOOK",
                         help="Gradebook file (default: $COURSE_GRADEBOOK, then <workspace>/.course/gradebook.sqlite).")


def _root_workspace():
    return (click.get_current_context().find_root().obj or {}).get("workspace")


@teach.command("grade-all", epilog=GRADEBOOK_EXAMPLES["grade-all"])
@click.argument("folder", type=click.Path(file_okay=False))
@lesson_option
@click.option("--jobs", "-j", type=click.IntRange(min=1),
              help="Gradings at a time (default: 2 per GPU, else half the CPUs, at least 2; "
                   "with --backend ray, what the cluster fits).")
@click.option("--devices",
              help="Comma-separated devices to spread over, e.g. cuda:0,cuda:1 (default: every visible GPU, else cpu).")
@click.option("--seeds", default=1, show_default=True, type=click.IntRange(min=1),
              help="Grade each submission with seeds 0..K-1.")
@click.option("--db", type=click.Path(dir_okay=False), envvar="COURSE_GRADEBOOK",
              help="Gradebook file (default: $COURSE_GRADEBOOK, then ./gradebook.sqlite in this folder).")
@click.option("--regrade", is_flag=True,
              help="Grade again what the gradebook already has (same file, lesson, seed, grader).")
@grading_options(without=("seed", "device", "validate"))  # a class is graded on the test set
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where the gradings run: processes on this machine, or tasks on a Ray cluster "
                   "(pip install -e \".[ray]\").")
@click.option("--address", help="Ray: the cluster to join, auto or HOST:PORT (default: start one on this machine).")
@click.option("--per-gpu", type=click.IntRange(min=1), help="Ray: gradings that share one GPU (default 1).")
@json_option
@reports_errors
def grade_all(folder, lesson, jobs, devices, seeds, db, regrade, options, backend, address, per_gpu, as_json):
    """Grade every submission in FOLDER: FOLDER/<student>/model.py, FOLDER/<student>.py or FOLDER/<student>.zip.

    Runs already in the gradebook are skipped, so an interrupted batch resumes where it stopped. With --backend
    ray each grading is a task on a Ray cluster; this machine still writes the gradebook. The grading options apply
    to every grading. Exit code 0 when the batch ran (whatever the students' verdicts), 2 when it could not start,
    130 after Ctrl-C.
    """
    from grader import api

    device_list = [d.strip() for d in devices.split(",") if d.strip()] if devices else None
    kw = dict(options=options, jobs=jobs, devices=device_list, seeds=seeds, db=db, regrade=regrade, backend=backend,
              address=address, per_gpu=per_gpu)
    if as_json:
        from dataclasses import asdict

        result = api.grade_all(folder, lesson, **kw)
        _json_out({"db": str(result.db), "interrupted": result.interrupted, "seconds": result.seconds,
                   "counts": result.counts(), "identical": result.identical,
                   "outcomes": [asdict(o) for o in result.outcomes]})
    else:
        from grader.views.console import console
        from grader.views.instructor import BatchProgress, show_batch

        out = console()
        with BatchProgress(out) as progress:
            result = api.grade_all(folder, lesson, on_event=progress, **kw)
        show_batch(result, out)
    sys.exit(130 if result.interrupted else 0)


@teach.command(epilog=GRADEBOOK_EXAMPLES["leaderboard"])
@lesson_option
@click.option("--format", "fmt", default="table", show_default=True,
              type=click.Choice(["table", "csv", "json", "md", "html", "gradescope"]), help="What to produce.")
@click.option("-o", "--output", type=click.Path(),
              help="Write to this file (a folder for gradescope) instead of stdout.")
@click.option("--anonymize", is_flag=True, help="Stable pseudonyms instead of names; no submission paths.")
@click.option("--db", type=click.Path(dir_okay=False), envvar="COURSE_GRADEBOOK",
              help="Gradebook file (default: $COURSE_GRADEBOOK, then grade-all's ./gradebook.sqlite if this folder "
                   "has one, then <workspace>/.course/gradebook.sqlite).")
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
        from grader.views.console import console
        from grader.views.instructor import show_leaderboard

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
        from grader.views.console import console
        from grader.views.instructor import show_history

        show_history(attempts, console())


@teach.command(epilog=GRADEBOOK_EXAMPLES["autograder"])
@click.argument("lesson")
@click.option("-o", "--output", default="autograder.zip", show_default=True, type=click.Path(dir_okay=False),
              help="The zip to upload on Gradescope.")
@grading_options(without=("device", "data_dir", "validate"))  # Gradescope grades on the test set
@click.option("--visibility", default="visible", show_default=True,
              type=click.Choice(["visible", "hidden", "after_due_date", "after_published"]),
              help="When students see the per-criterion tests.")
@reports_errors
def autograder(lesson, output, options, visibility):
    """Build Gradescope's autograder zip for LESSON: the course as a wheel, setup.sh and run_autograder.

    Each submission's model.py is graded on Gradescope's CPU with the grading options given here (--timeout:
    35 min unless given, under Gradescope's 40; --quick tries the setup out and scores no accuracy) and scored per
    criterion with the weights of LESSON's lesson.toml ([criteria.weights]); README's Gradescope section says
    which lessons fit its time limit.
    """
    from grader import api

    built = api.build_autograder(lesson, output, options, visibility)
    from grader.views.console import console
    from grader.views.instructor import show_autograder

    show_autograder(built, console())


@teach.command("run-autograder", epilog=GRADEBOOK_EXAMPLES["run-autograder"])
@click.option("--root", default="/autograder", show_default=True, envvar="AUTOGRADER_ROOT",
              type=click.Path(file_okay=False), help="Gradescope's folder: source/, submission/, results/.")
@reports_errors
def run_autograder(root):
    """Grade ROOT/submission/model.py as the autograder zip says and write ROOT/results/results.json.

    Exit code 0 whenever results.json was written (the score is in it), 2 when it could not be.
    """
    from grader import api
    from grader.views.console import console
    from grader.views.instructor import show_autograder_run
    from grader.views.student import GradeProgress

    out = console()
    with GradeProgress(out) as progress:
        done = api.run_autograder(root, on_event=progress)
    show_autograder_run(done, out)


def _hidden_alias(command: click.Command) -> click.Command:
    alias = copy.copy(command)
    alias.hidden = True
    return alias


# the spellings of course 0.x: scripts and muscle memory keep working, and `course --help` stays short
for _group in (teach, dev):
    for _name, _command in _group.commands.items():
        cli.add_command(_hidden_alias(_command), _name)


def main():
    cli(prog_name="course")


if __name__ == "__main__":
    main()
