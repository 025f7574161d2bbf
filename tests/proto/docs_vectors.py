#!/usr/bin/env python3
"""Keep docs/protocol.md's generated section equal to what the code produces (test proto_docs_vectors).

    docs_vectors.py VECTORS_BIN DOC            check; exit 1 with a diff when they differ
    docs_vectors.py VECTORS_BIN DOC --update   rewrite the section (commit the change with its reason)
"""
import difflib
import subprocess
import sys

BEGIN, END = "<!-- BEGIN GENERATED -->\n", "<!-- END GENERATED -->"


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    tool, doc = sys.argv[1], sys.argv[2]
    gen = subprocess.run([tool], check=True, capture_output=True, text=True).stdout
    text = open(doc, encoding="utf-8").read()
    a, b = text.find(BEGIN), text.find(END)
    if a < 0 or b < a:
        print(f"{doc}: generated-section markers missing", file=sys.stderr)
        return 1
    current = text[a + len(BEGIN):b]
    if "--update" in sys.argv:
        open(doc, "w", encoding="utf-8").write(text[:a + len(BEGIN)] + gen + text[b:])
        print(f"{doc}: generated section rewritten ({len(gen)} bytes)")
        return 0
    if current != gen:
        sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), gen.splitlines(True),
                                                   "docs/protocol.md", "proto_vectors"))
        print("docs/protocol.md is out of date: run tests/proto/docs_vectors.py BIN docs/protocol.md --update",
              file=sys.stderr)
        return 1
    print(f"docs/protocol.md test vectors match the code ({gen.count('### ')} message types)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
