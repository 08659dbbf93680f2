"""Demo data of the standardized-site module: the credit codes of the units the demo's sites name.

The project register (项目库) is the projects module's: its seeder (order 12) makes a project of every site pin, with
the same code and these credit codes (``layers/projects/demo.py``), before this module's seeder (``demo_flow``,
order 15) shows the module in use. Enterprises get unified social credit codes with a valid GB 32100 check digit,
the same code for the same company name.
"""

from __future__ import annotations

import hashlib

from stdnum.cn import uscc as uscc_mod

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 characters


def uscc_for(name: str) -> str:
    """A stable, valid credit code for a (demo) company name: 91 (enterprise) + 330100 (Hangzhou) + 9 + check."""
    digest = hashlib.sha256(name.encode()).digest()
    body = "91330100" + "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:9])
    return body + uscc_mod.calc_check_digit(body)
