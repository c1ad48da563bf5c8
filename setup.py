"""The part of the package configuration pyproject.toml cannot state: the package list.

``flow``'s own packages are found; the checkout's top-level ``hw_templates/`` and ``configs/``
ship inside it as ``flow.hw_templates`` and ``flow.configs`` (their files are named in
pyproject.toml). A folder that is not there is left out rather than an error: the Docker image
installs the project (editable) before it copies the sources, and the flow finds the folders
of a checkout without this mapping (``flow.sources.shipped_dir``).
"""

from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup

SHIPPED = {"flow.hw_templates": "hw_templates", "flow.configs": "configs"}

packages = find_packages(include=["flow", "flow.*"])
for package, folder in SHIPPED.items():
    if Path(folder).is_dir():
        packages += [package, *(f"{package}.{p}" for p in find_namespace_packages(folder))]
setup(packages=packages, package_dir=SHIPPED)
