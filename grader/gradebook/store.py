"""The gradebook: one SQLite file of students, submissions, runs and per-epoch metrics.

The schema lives here and only here, versioned with PRAGMA user_version and migrated forward on open.
A run is written in one transaction when it ends, so an interrupted grading leaves nothing behind, and
WAL plus a busy timeout let several processes grade into the same file at once.
"""

from __future__ import annotations

import getpass
import importlib.metadata
import json
import os
import platform
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grader
from grader.digest import file_sha256
from grader.errors import CourseError
from grader.record import RunRecord
from grader.workspace import workspace_root

GRADEBOOK = Path(".course") / "gradebook.sqlite"
BUSY_TIMEOUT_S = 60  # a writer holds the lock for milliseconds; a minute covers a batch of 16 landing at once

# Each entry migrates from version i to i + 1; a new schema is a new entry, never an edit of an old one.
MIGRATIONS: list[tuple[str, ...]] = [
    (  # v1: the first gradebook
        """CREATE TABLE students (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE
        )""",
        """CREATE TABLE submissions (
            id INTEGER PRIMARY KEY,
            student_id INTEGER NOT NULL REFERENCES students(id),
            lesson TEXT,                      -- NULL: judged against the course target
            sha256 TEXT NOT NULL,
            path TEXT NOT NULL,               -- what the student handed in, as first seen
            submitted_at TEXT NOT NULL        -- the file's modification time, UTC ISO 8601
        )""",
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            submission_id INTEGER NOT NULL REFERENCES submissions(id),
            finished_at TEXT NOT NULL,
            grader_version TEXT NOT NULL,
            torch_version TEXT,
            torchvision_version TEXT,
            cuda_version TEXT,
            device_name TEXT,
            seed INTEGER NOT NULL,
            quick INTEGER NOT NULL,
            recipe TEXT,                      -- JSON: the recipe actually used
            status TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'smoke', 'error')),
            verdict TEXT,                     -- JSON: Verdict.to_dict()
            params INTEGER,
            rf INTEGER,
            best_acc REAL,
            last_acc REAL,
            epochs_to_target INTEGER,
            duration REAL,
            message TEXT,
            -- a pass needs a full (not --quick) training with a measured accuracy
            CHECK (status <> 'passed' OR (quick = 0 AND best_acc IS NOT NULL))
        )""",
        """CREATE TABLE epochs (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            epoch INTEGER NOT NULL,
            train_loss REAL,
            train_acc REAL,
            test_loss REAL,
            test_acc REAL,
            lr REAL,
            seconds REAL,
            PRIMARY KEY (run_id, epoch)
        )""",
    ),
    (  # v2: provenance and error detail, the --epochs cap (part of the resume key), a key/value table
        "ALTER TABLE runs ADD COLUMN started_at TEXT",
        "ALTER TABLE runs ADD COLUMN epochs_limit INTEGER",
        "ALTER TABLE runs ADD COLUMN error_kind TEXT",
        "ALTER TABLE runs ADD COLUMN python_version TEXT",
        "ALTER TABLE runs ADD COLUMN cudnn_version TEXT",
        "ALTER TABLE runs ADD COLUMN device TEXT",
        "ALTER TABLE runs ADD COLUMN rf_final INTEGER",
        "ALTER TABLE runs ADD COLUMN baseline_acc REAL",
        "ALTER TABLE runs ADD COLUMN train_images INTEGER",
        "ALTER TABLE runs ADD COLUMN test_images INTEGER",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE INDEX runs_by_submission ON runs(submission_id)",
        "CREATE INDEX submissions_by_sha ON submissions(sha256, lesson)",
    ),
    (  # v3: the student's lesson progress moves in from <workspace>/.course/state.json
        "ALTER TABLE students ADD COLUMN current_lesson TEXT",  # the lesson `course check` works on by default
        """CREATE TABLE progress (
            student_id INTEGER NOT NULL REFERENCES students(id),
            lesson TEXT NOT NULL,
            started TEXT,
            passed TEXT,                      -- when a full grade first passed
            hints_shown TEXT NOT NULL DEFAULT '[]',  -- JSON list of hint indices, in the order shown
            best_acc REAL,                    -- best over full (not --quick) gradings
            solution_seen TEXT,
            last_verdict TEXT,                -- JSON: the last check or grade of the workspace file
            PRIMARY KEY (student_id, lesson)
        )""",
    ),
    (  # v4: the whole run record (grader.record.RunRecord.to_dict), so every reader sees what the grading saw
        "ALTER TABLE runs ADD COLUMN record TEXT",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


class GradebookError(CourseError):
    """The gradebook file cannot be used (not SQLite, newer schema, unwritable)."""

    kind = "gradebook"


@dataclass(frozen=True)
class RunKey:
    """What makes two gradings the same, so a batch can skip one already done."""

    student: str
    sha256: str
    lesson: str | None
    seed: int
    quick: bool  # a smoke run never stands in for a full grading, nor the reverse
    epochs_limit: int | None  # --epochs: a shortened run is not the full one
    grader_version: str = grader.__version__


def utc_stamp() -> str:
    """Now, in UTC, to the microsecond: the gradebook's timestamps sort as text."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def mtime(path: Path) -> str:
    """A file's modification time as the submission time: when the student last wrote it."""
    return datetime.fromtimestamp(Path(path).stat().st_mtime, UTC).isoformat(timespec="microseconds")


def default_student() -> str:
    """Whose workspace this is: the login name (a workspace gradebook holds one student)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "student"


def workspace_gradebook(workspace: str | os.PathLike | None = None) -> Path:
    """`<workspace>/.course/gradebook.sqlite`: where `course grade` records a student's runs."""
    return workspace_root(workspace) / GRADEBOOK


# ----------------------------------------------------------------------------------------- connection


def connect(path: str | os.PathLike) -> sqlite3.Connection:
    """Open (creating if needed) and migrate a gradebook; ":memory:" gives a private one for tests."""
    where = str(path)
    try:
        if where != ":memory:":
            Path(where).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; every write goes through transaction() below.
        conn = sqlite3.connect(where, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if where != ":memory:":
            _use_wal(conn)
        migrate(conn, where)
    except sqlite3.OperationalError as exc:  # locked past the busy timeout, unwritable folder ...
        raise GradebookError(f"cannot open the gradebook {where}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise GradebookError(f"{where} is not a gradebook this course can open ({exc}); pass another --db") from exc
    except OSError as exc:
        raise GradebookError(f"cannot create the gradebook {where}: {exc.strerror}") from exc
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (readers never block the writer, nor the reverse) once, for every later opener.

    SQLite answers "database is locked" at once, without its busy handler, when two processes race to switch a new
    file's journal mode; so wait for the other one here, as long as the busy timeout allows.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def opened(path: str | os.PathLike) -> Iterator[sqlite3.Connection]:
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (Ctrl-C included): all or nothing."""
    try:
        conn.execute("BEGIN IMMEDIATE")  # take the write lock now, so two writers queue instead of deadlocking
    except sqlite3.OperationalError as exc:  # locked past the busy timeout, read-only file, full disk ...
        raise GradebookError(f"cannot write the gradebook {_file_of(conn)}: {exc}") from exc
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError):
            raise GradebookError(f"cannot write the gradebook {_file_of(conn)}: {exc}") from exc
        raise


def _file_of(conn: sqlite3.Connection) -> str:
    return conn.execute("PRAGMA database_list").fetchone()[2] or ":memory:"


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, where: str = "the gradebook") -> None:
    """Bring the schema to SCHEMA_VERSION, one migration at a time, each step in the same transaction."""
    if schema_version(conn) == SCHEMA_VERSION:
        return
    with transaction(conn):
        version = schema_version(conn)  # another process may have migrated while we waited for the lock
        if version > SCHEMA_VERSION:
            raise GradebookError(
                f"{where} has schema version {version}, newer than this course's {SCHEMA_VERSION}; upgrade course"
            )
        for step in MIGRATIONS[version:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


# ----------------------------------------------------------------------------------------------- writes


def _versions() -> dict:
    """The versions a run in this process would record, without importing torch (for error runs)."""

    def dist(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {"grader": grader.__version__, "python": platform.python_version(), "torch": dist("torch"),
            "torchvision": dist("torchvision")}


def _id(conn, table: str, where: dict, values: dict) -> int:
    clause = " AND ".join(f"{k} IS ?" for k in where)
    row = conn.execute(f"SELECT id FROM {table} WHERE {clause}", tuple(where.values())).fetchone()
    if row:
        return row[0]
    cols = {**where, **values}
    marks = ", ".join("?" for _ in cols)
    return conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", tuple(cols.values())).lastrowid


def _insert_run(conn, student: str, sha256: str, source: str, submitted_at: str, lesson: str | None,
                run: dict, epochs: list[dict]) -> int:
    student_id = _id(conn, "students", {"name": student}, {})
    submission_id = _id(conn, "submissions", {"student_id": student_id, "lesson": lesson, "sha256": sha256},
                        {"path": source, "submitted_at": submitted_at})
    cols = {"submission_id": submission_id, **run}
    marks = ", ".join("?" for _ in cols)
    run_id = conn.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({marks})", tuple(cols.values())).lastrowid
    conn.executemany(
        "INSERT INTO epochs (run_id, epoch, train_loss, train_acc, test_loss, test_acc, lr, seconds) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(run_id, e["epoch"], _num(e.get("train_loss")), _num(e.get("train_acc")), _num(e.get("test_loss")),
          _num(e.get("test_acc")), _num(e.get("lr")), _num(e.get("seconds"))) for e in epochs],
    )
    return run_id


def _num(value):
    # The worker turns NaN/inf into strings so the JSON parses; the gradebook stores them as NULL.
    return value if isinstance(value, (int, float)) else None


def record_run(conn: sqlite3.Connection, record: RunRecord | dict, **where) -> int:
    """Store one finished grading with its epochs in a transaction of its own; the run's id (`where`: add_run's)."""
    with transaction(conn):
        return add_run(conn, record, **where)


def add_run(conn: sqlite3.Connection, record: RunRecord | dict, *, student: str | None = None,
            source: str | None = None, submitted_at: str | None = None, started_at: str | None = None,
            epochs_limit: int | None = None) -> int:
    """Store one finished grading with its epochs inside the caller's transaction; the run's id."""
    if isinstance(record, dict):
        record = RunRecord.from_dict(record)
    verdict = record.verdict
    versions = record.versions or {}
    run = {
        "started_at": started_at,
        "finished_at": utc_stamp(),
        "grader_version": versions.get("grader") or grader.__version__,
        "python_version": versions.get("python"),
        "torch_version": versions.get("torch"),
        "torchvision_version": versions.get("torchvision"),
        "cuda_version": versions.get("cuda"),
        "cudnn_version": _str(versions.get("cudnn")),
        "device": record.device,
        "device_name": record.device_name,
        "seed": record.seed,
        "quick": int(bool(record.quick)),
        "epochs_limit": epochs_limit,
        "recipe": json.dumps(record.recipe, default=str),
        "status": verdict.status,
        "verdict": json.dumps(verdict.to_dict(), default=str),
        "params": record.params,
        "rf": record.rf,
        "rf_final": record.rf_final,
        "best_acc": _num(record.best_acc),
        "last_acc": _num(record.last_acc),
        "epochs_to_target": verdict.epochs_to_target,
        "baseline_acc": _num(record.baseline_test_acc),
        "train_images": record.train_images,
        "test_images": record.test_images,
        "duration": record.duration,
        "message": verdict.message,
        "record": json.dumps(record.to_dict(), default=str),
    }
    file = record.file
    epochs = [{"epoch": e.epoch, "train_loss": e.train_loss, "train_acc": e.train_acc, "test_loss": e.test_loss,
               "test_acc": e.test_acc, "lr": e.lr, "seconds": e.seconds} for e in record.epochs]
    return _insert_run(conn, student or default_student(), record.sha256, source or file,
                       submitted_at or _mtime_or_now(source or file), record.lesson, run, epochs)


def record_error(conn: sqlite3.Connection, **error) -> int | None:
    """Store a grading that could not be done in a transaction of its own (`error`: add_error's); the run's id."""
    with transaction(conn):
        return add_error(conn, **error)


def add_error(conn: sqlite3.Connection, *, file: str | os.PathLike, lesson: str | None, seed: int, message: str,
              kind: str = "error", student: str | None = None, source: str | None = None, quick: bool = False,
              epochs_limit: int | None = None, device: str | None = None, duration: float | None = None,
              started_at: str | None = None, sha256: str | None = None) -> int | None:
    """Store a grading that could not be done (exit code 2) as a run with status "error", inside the caller's
    transaction.

    Returns None when there is nothing to attach it to (the file cannot be read).
    """
    if sha256 is None:
        try:
            sha256 = file_sha256(file)
        except OSError:
            return None
    versions = _versions()
    run = {
        "started_at": started_at, "finished_at": utc_stamp(), "grader_version": versions["grader"],
        "python_version": versions["python"], "torch_version": versions["torch"],
        "torchvision_version": versions["torchvision"], "device": device, "seed": seed, "quick": int(quick),
        "epochs_limit": epochs_limit, "status": "error", "message": message, "error_kind": kind, "duration": duration,
    }
    source = str(source or file)
    return _insert_run(conn, student or default_student(), sha256, source, _mtime_or_now(source), lesson, run, [])


def _mtime_or_now(path) -> str:
    try:
        return mtime(Path(path))
    except OSError:
        return utc_stamp()


def _str(value):
    return None if value is None else str(value)


def check_writable(db: str | os.PathLike) -> None:
    """Open (and create) the gradebook now: one that cannot be used should say so before a long training."""
    connect(db).close()


# ------------------------------------------------------------------------------------------------ reads


def find_run(conn: sqlite3.Connection, key: RunKey) -> int | None:
    """The id of a run already recorded for this key, if any (what makes a batch resumable)."""
    row = conn.execute(
        """SELECT runs.id FROM runs
           JOIN submissions ON submissions.id = runs.submission_id
           JOIN students ON students.id = submissions.student_id
           WHERE students.name = ? AND submissions.sha256 = ? AND submissions.lesson IS ? AND runs.seed = ?
             AND runs.quick = ? AND runs.epochs_limit IS ? AND runs.grader_version = ?
           ORDER BY runs.id DESC LIMIT 1""",
        (key.student, key.sha256, key.lesson, key.seed, int(key.quick), key.epochs_limit, key.grader_version),
    ).fetchone()
    return row[0] if row else None


RUN_COLUMNS = """runs.*, students.name AS student, submissions.lesson AS lesson, submissions.sha256 AS sha256,
    submissions.path AS source, submissions.submitted_at AS submitted_at"""


ANY = object()  # runs(lesson=ANY): every lesson; lesson=None means runs judged against the course target


def runs(conn: sqlite3.Connection, lesson=ANY, student: str | None = None) -> list[dict]:
    """Every run (joined with its student and submission), oldest first; filter by lesson and student."""
    where, args = [], []
    if lesson is not ANY:
        where.append("submissions.lesson IS ?")
        args.append(lesson)
    if student is not None:
        where.append("students.name = ?")
        args.append(student)
    sql = f"""SELECT {RUN_COLUMNS} FROM runs
              JOIN submissions ON submissions.id = runs.submission_id
              JOIN students ON students.id = submissions.student_id
              {'WHERE ' + ' AND '.join(where) if where else ''}
              ORDER BY runs.finished_at, runs.id"""
    out = []
    for row in conn.execute(sql, args):
        run = dict(row)
        run["quick"] = bool(run["quick"])
        for key in ("recipe", "verdict"):
            run[key] = json.loads(run[key]) if run.get(key) else None
        # the whole record (v4 gradebooks); an older row has its summary columns only
        run["record"] = RunRecord.from_dict(json.loads(run["record"])) if run.get("record") else None
        out.append(run)
    return out


def epochs(conn: sqlite3.Connection, run_id: int) -> list[dict]:
    """A run's per-epoch metrics, in epoch order."""
    return [dict(r) for r in conn.execute("SELECT * FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,))]


def students(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM students ORDER BY name")]


def salt(conn: sqlite3.Connection) -> str:
    """A random secret kept in the gradebook, so pseudonyms are stable per gradebook but not guessable."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'pseudonym_salt'").fetchone()
    if row:
        return row[0]
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('pseudonym_salt', ?)", (secrets.token_hex(16),))
    return conn.execute("SELECT value FROM meta WHERE key = 'pseudonym_salt'").fetchone()[0]


# ------------------------------------------------------------------------------------- student progress
# Rows as plain dicts: grader.gradebook.progress turns them into its dataclasses, so this module stays the schema's
# only home.

PROGRESS_COLUMNS = ("started", "passed", "hints_shown", "best_acc", "solution_seen", "last_verdict")


def load_progress(conn: sqlite3.Connection, student: str) -> tuple[str | None, dict[str, dict]]:
    """The student's current lesson and one row per lesson touched (hints_shown and last_verdict still JSON)."""
    row = conn.execute("SELECT id, current_lesson FROM students WHERE name = ?", (student,)).fetchone()
    if row is None:
        return None, {}
    lessons = {
        r["lesson"]: {k: r[k] for k in PROGRESS_COLUMNS}
        for r in conn.execute(f"SELECT lesson, {', '.join(PROGRESS_COLUMNS)} FROM progress WHERE student_id = ?",
                              (row["id"],))
    }
    return row["current_lesson"], lessons


def write_progress(conn: sqlite3.Connection, student: str, current: str | None, lessons: dict[str, dict]) -> None:
    """Set the student's current lesson and replace the given lessons' rows, inside a transaction the caller holds
    (a grading records its run in the same one)."""
    student_id = _id(conn, "students", {"name": student}, {})
    conn.execute("UPDATE students SET current_lesson = ? WHERE id = ?", (current, student_id))
    marks = ", ".join("?" for _ in PROGRESS_COLUMNS)
    conn.executemany(
        f"INSERT OR REPLACE INTO progress (student_id, lesson, {', '.join(PROGRESS_COLUMNS)}) "
        f"VALUES (?, ?, {marks})",
        [(student_id, lesson, *(row[k] for k in PROGRESS_COLUMNS)) for lesson, row in lessons.items()],
    )
