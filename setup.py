"""Maps src/ to the import package `invoicing` (the design card's layout).

pyproject.toml holds all metadata; this file only lists the packages, because setuptools cannot
express "every package below src/, renamed" declaratively.
"""

from setuptools import find_packages, setup

setup(
    package_dir={"invoicing": "src"},
    packages=["invoicing", *(f"invoicing.{name}" for name in find_packages("src"))],
)
