# Types of the compiled line sieve (_sieve.c); its Python twin is skipping.py's py_mark_lines.

def mark_lines(
    block: bytes | bytearray | memoryview, labels: tuple[bytes, ...], hits: list[int], /
) -> list[tuple[int, int, int, int, int]]: ...
