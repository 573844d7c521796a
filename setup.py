"""The one thing pyproject.toml cannot declare: the optional compiled line sieve.

``optional=True``: where no C compiler is at hand the install still succeeds, and the analyzer
uses the same sieve written in Python (analyzer/parsing/skipping.py), only slower.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("analyzer.parsing._sieve", ["analyzer/parsing/_sieve.c"], optional=True)])
