"""What every check in the kit raises, and the one way tests print progress.

A failed check raises CheckFailed with what was expected and what came; the runner
(wssniff_kit.runner) turns it into one FAIL line.
"""



class CheckFailed(AssertionError):
    pass


def check(condition, what):
    if not condition:
        raise CheckFailed(what)


def log(text):
    print(text, flush=True)
