"""The wheel carries the policy folder remedy ships (its JSON Schemas and the example
policy) as package data, ``remedy/policies``, read with importlib.resources: ``policies/``
stays at the top of the checkout, where operators edit it and sam build packages it."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithPolicies(build_py):
    def run(self) -> None:
        super().run()
        self.copy_tree("policies", str(Path(self.build_lib) / "remedy" / "policies"))


setup(cmdclass={"build_py": BuildWithPolicies})
