"""Package discovery only: installs grader/ and course.py, and maps lessons/, solutions/ and data/ into
grader/_assets/ so that a non-editable `pip install .` still finds them (grader/paths.py looks there)."""

from setuptools import find_namespace_packages, find_packages, setup

ASSETS = ("lessons", "solutions", "data")

packages = find_packages(include=["grader", "grader.*"])
package_dir = {name: name.replace(".", "/") for name in packages}
for top in ASSETS:
    for sub in [""] + find_namespace_packages(where=top, exclude=["*__pycache__*"]):
        name = f"grader._assets.{top}" + (f".{sub}" if sub else "")
        packages.append(name)
        package_dir[name] = top + ("/" + sub.replace(".", "/") if sub else "")

setup(
    py_modules=["course"],
    packages=packages,
    package_dir=package_dir,
    package_data={name: ["*"] for name in packages if name.startswith("grader._assets")},
)
