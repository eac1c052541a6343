"""Validates JUnit XML reports against an XSD (Jenkins' junit-10.xsd).

    python junit_check.py SCHEMA.xsd REPORT.xml...

Prints each violation with its path and exits 1 when there is one.
"""
import sys

import xmlschema


def main() -> int:
    schema = xmlschema.XMLSchema(sys.argv[1])
    failed = 0
    for report in sys.argv[2:]:
        for error in schema.iter_errors(report):
            failed += 1
            print(f"{report}: {error.path}: {error.reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
