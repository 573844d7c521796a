# The compiled line sieve (_sieve.c): see skipping.py, whose py_mark_lines is its Python twin.

def mark_lines(
    block: bytes, labels: tuple[bytes, ...], hits: list[int], json_levels: bytes | None = ..., /
) -> tuple[list[tuple[int, int, int, int, int, int]], int]: ...
