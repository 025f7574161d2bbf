"""High-precision (50-digit decimal) reference values for the incomplete beta and gamma functions.

Used only to arbitrate when the C code and scipy disagree in extreme corners (huge shape parameters,
far tails): scipy 1.10's cephes/boost kernels lose digits there too, so "differs from scipy" alone is
not proof the C code is wrong. Algorithms: ln Gamma by Stirling's series after shifting the argument
above 40; I_x(a, b) by the Numerical Recipes continued fraction (modified Lentz) in the tail where it
converges, P(a, x) by the power series and Q(a, x) by the Legendre continued fraction. At 50 digits the
rounding in these recurrences is far below the 1e-12 relative accuracy the checks demand.
"""
from decimal import Decimal as D, getcontext

getcontext().prec = 50
_PI = D("3.14159265358979323846264338327950288419716939937510582097494")
_BERN = [D(1) / 6, D(-1) / 30, D(1) / 42, D(-1) / 30, D(5) / 66, D(-691) / 2730, D(7) / 6,
         D(-3617) / 510, D(43867) / 798, D(-174611) / 330, D(854513) / 138]
_TINY = D("1e-400")
_EPS = D("1e-45")


def lgamma(a):
    a = D(a)
    shift = D(0)
    while a < 40:
        shift += a.ln()
        a += 1
    s = (a - D("0.5")) * a.ln() - a + (2 * _PI).ln() / 2
    for k, b in enumerate(_BERN, 1):
        s += b / (2 * k * (2 * k - 1) * a ** (2 * k - 1))
    return s - shift


def _betacf(a, b, x, max_iter=10 ** 7):
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = D(1), 1 - qab * x / qap
    d = 1 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, max_iter):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = d if abs(d) > _TINY else _TINY
        c = 1 + aa / c
        c = c if abs(c) > _TINY else _TINY
        d = 1 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = d if abs(d) > _TINY else _TINY
        c = 1 + aa / c
        c = c if abs(c) > _TINY else _TINY
        d = 1 / d
        de = d * c
        h *= de
        if abs(de - 1) < _EPS:
            return h
    raise RuntimeError("betacf did not converge")


def _lbeta(a, b):
    return lgamma(a) + lgamma(b) - lgamma(a + b)


def betainc(a, b, x):
    """(I_x(a, b), 1 - I_x(a, b)) as Decimals, for float inputs taken exactly."""
    a, b, x = D(a), D(b), D(x)
    if x == 0:
        return D(0), D(1)
    if x == 1:
        return D(1), D(0)
    lf = a * x.ln() + b * (1 - x).ln() - _lbeta(a, b)
    if x < (a + 1) / (a + b + 2):
        p = lf.exp() * _betacf(a, b, x) / a
        return p, 1 - p
    q = lf.exp() * _betacf(b, a, 1 - x) / b
    return 1 - q, q


def beta_pdf(a, b, x):
    a, b, x = D(a), D(b), D(x)
    return ((a - 1) * x.ln() + (b - 1) * (1 - x).ln() - _lbeta(a, b)).exp()


def gammainc(a, x):
    """(P(a, x), Q(a, x)) as Decimals."""
    a, x = D(a), D(x)
    if x == 0:
        return D(0), D(1)
    lf = a * x.ln() - x - lgamma(a)
    if x < a + 1:
        term = 1 / a
        s = term
        n = 0
        while True:
            n += 1
            term *= x / (a + n)
            s += term
            if term < s * _EPS:
                break
        p = lf.exp() * s
        return p, 1 - p
    b = x + 1 - a
    c, d = 1 / _TINY, 1 / b
    h = d
    i = 0
    while True:
        i += 1
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = d if abs(d) > _TINY else _TINY
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        d = 1 / d
        de = d * c
        h *= de
        if abs(de - 1) < _EPS:
            break
    q = lf.exp() * h
    return 1 - q, q


def gamma_pdf(a, x):
    a, x = D(a), D(x)
    return ((a - 1) * x.ln() - x - lgamma(a)).exp()
