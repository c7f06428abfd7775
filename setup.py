"""Maps src/ to the import package `invoicing` (the design card's layout).

pyproject.toml holds all metadata; this file only lists the packages, because setuptools cannot
express "every package below src/, renamed" declaratively. Directories that hold only data
(templates) are listed too, as namespace packages: setuptools then ships their files as package
data instead of warning that they look like packages missing from the list.
"""

from setuptools import find_namespace_packages, setup

setup(
    package_dir={"invoicing": "src"},
    packages=[
        "invoicing",
        *(
            f"invoicing.{name}"
            for name in find_namespace_packages("src", exclude=["__pycache__", "*.__pycache__"])
        ),
    ],
)
