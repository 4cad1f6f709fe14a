"""Solutions of the exercise track, written with the library's own kernels.

Each file has the names and signatures of its stub (``minibert/exercises/stubs``), so it
can stand in for a student's file: ``minibert exercise start DIR --with-solutions``
copies them, and the grader's tests grade them at 100%. They call (or, for the two
loops, spell out) minibert's code: reading them after an exercise shows where the same
math lives in the library.
"""
