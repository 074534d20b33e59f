"""pyburn.py - a Python profiling workload: two functions burning CPU 1:2, for argv[1] seconds."""
import sys
import time


def burn_small():
    total = 0
    for i in range(20000):
        total += i * i
    return total


def burn_large():
    total = 0
    for i in range(40000):
        total += i * i
    return total


def main(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        burn_small()
        burn_large()


main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
