"""Read user-written Python into pylists trees with tree-sitter (the optional extra ``python``).

Any spacing, comments and redundant parentheses are accepted; code outside the subset gets a message
located at ``file:line:col`` saying what the subset allows there. A comprehension with both a transform
and a condition (``[x + 1 for x in xs if x > 2]``) is read as a map over a filter, which computes the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from treediff import Grammar, InputError, Node, build

LIST_FORMS = ("xs, [f(x) for x in LIST], [x for x in LIST if COND], sorted(LIST), LIST[::-1], LIST[:n], LIST[n:] "
              "(n from 1 to 5)")
FN_FORMS = "x + k, x - k, x * k, x * x, x % n (k from 0 to 9, n from 1 to 5)"
PRED_FORMS = "x > k, x < k, x % 2 == 0, x % 2 == 1 (k from 0 to 9)"


def _parser() -> Any:
    try:
        import tree_sitter
        import tree_sitter_python
    except ImportError:
        raise InputError("reading Python files needs tree-sitter; expected `pip install "
                         "'treediff-pylists[python]'` (tree-sitter and tree-sitter-python)") from None
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))


class Reader:
    """Converts a tree-sitter CST of one Python expression into a pylists tree."""

    def __init__(self, grammar: Grammar, source: str, text: bytes) -> None:
        self.grammar, self.source, self.text = grammar, source, text

    def error(self, node: Any, message: str) -> InputError:
        line, col = node.start_point
        snippet = node.text.decode("utf-8", "replace").splitlines()[0] if node.text else ""
        return InputError(f"{self.source}:{line + 1}:{col + 1}: `{snippet[:60]}` {message}")

    @staticmethod
    def kids(node: Any) -> list[Any]:
        return [c for c in node.named_children if c.type != "comment"]

    def unwrap(self, node: Any) -> Any:
        while node.type == "parenthesized_expression":
            inner = self.kids(node)
            if len(inner) != 1:
                raise self.error(node, "is not one expression; expected a list expression")
            node = inner[0]
        return node

    def integer(self, node: Any, lo: int, hi: int, what: str) -> int:
        node = self.unwrap(node)
        if node.type != "integer":
            raise self.error(node, f"is not an integer literal; expected {what} from {lo} to {hi}")
        value = int(node.text.decode(), 0)
        if not lo <= value <= hi:
            raise self.error(node, f"is outside the subset; expected {what} from {lo} to {hi}")
        return value

    def is_x(self, node: Any) -> bool:
        node = self.unwrap(node)
        return node.type == "identifier" and node.text == b"x"

    def expr(self, node: Any) -> Node:
        node = self.unwrap(node)
        kind = node.type
        if kind == "identifier":
            if node.text == b"xs":
                return build(self.grammar, "xs")
            raise self.error(node, f"is not the input; expected the input list `xs` or one of: {LIST_FORMS}")
        if kind == "call":
            func = node.child_by_field_name("function")
            args = self.kids(node.child_by_field_name("arguments"))
            if func is not None and func.text == b"sorted" and len(args) == 1:
                return build(self.grammar, "sort", src=self.expr(args[0]))
            raise self.error(node, f"is a call outside the subset; expected sorted(LIST) or one of: {LIST_FORMS}")
        if kind == "subscript":
            return self.subscript(node)
        if kind == "list_comprehension":
            return self.comprehension(node)
        raise self.error(node, f"is outside the subset; expected one of: {LIST_FORMS}")

    def subscript(self, node: Any) -> Node:
        value = node.child_by_field_name("value")
        slices = [c for c in node.children_by_field_name("subscript")]
        if len(slices) != 1 or self.unwrap(slices[0]).type != "slice":
            raise self.error(node, "indexes one element; expected a slice LIST[::-1], LIST[:n] or LIST[n:]")
        piece = self.unwrap(slices[0])
        parts: list[list[Any]] = [[]]
        for child in piece.children:
            if child.type == ":":
                parts.append([])
            elif child.type != "comment":
                parts[-1].append(child)
        src = self.expr(value)
        if len(parts) == 3 and not parts[0] and not parts[1] and len(parts[2]) == 1:
            step = self.unwrap(parts[2][0])
            if step.type == "unary_operator" and step.text.replace(b" ", b"") == b"-1":
                return build(self.grammar, "reverse", src=src)
        if len(parts) == 2 and not parts[0] and len(parts[1]) == 1:
            return build(self.grammar, "take", src=src, n=self.integer(parts[1][0], 1, 5, "a count"))
        if len(parts) == 2 and len(parts[0]) == 1 and not parts[1]:
            return build(self.grammar, "drop", src=src, n=self.integer(parts[0][0], 1, 5, "a count"))
        raise self.error(piece, "is a slice outside the subset; expected [::-1], [:n] or [n:] with n from 1 to 5")

    def comprehension(self, node: Any) -> Node:
        body = node.child_by_field_name("body")
        clauses = [c for c in self.kids(node) if c.type in ("for_in_clause", "if_clause")]
        fors = [c for c in clauses if c.type == "for_in_clause"]
        ifs = [c for c in clauses if c.type == "if_clause"]
        if len(fors) != 1 or len(ifs) > 1 or clauses[0].type != "for_in_clause":
            raise self.error(node, "has several for/if clauses; expected one `for x in LIST` and at most one `if`")
        target = fors[0].child_by_field_name("left")
        if target is None or not self.is_x(target):
            raise self.error(target or fors[0], "is not the loop variable of the subset; expected `for x in LIST`")
        src = self.expr(fors[0].child_by_field_name("right"))
        if ifs:
            cond = self.kids(ifs[0])
            src = build(self.grammar, "filter", src=src, p=self.pred(cond[0]))
            if self.is_x(body):
                return src
        elif self.is_x(body):
            raise self.error(body, "copies the list; expected a transform of x: " + FN_FORMS)
        return build(self.grammar, "map", src=src, f=self.fn(body))

    def _binary(self, node: Any) -> tuple[Any, str, Any]:
        node = self.unwrap(node)
        if node.type not in ("binary_operator", "comparison_operator") or len(self.kids(node)) != 2:
            raise self.error(node, "is outside the subset")
        left, right = self.kids(node)
        op = node.text[left.end_byte - node.start_byte:right.start_byte - node.start_byte].decode().strip()
        return left, op, right

    def fn(self, node: Any) -> Node:
        try:
            left, op, right = self._binary(node)
        except InputError:
            raise self.error(self.unwrap(node), f"is outside the subset; expected one of: {FN_FORMS}") from None
        if not self.is_x(left):
            raise self.error(left, f"is not x; expected one of: {FN_FORMS}")
        if op == "*" and self.is_x(right):
            return build(self.grammar, "square")
        names = {"+": "add", "-": "sub", "*": "mul"}
        if op in names:
            return build(self.grammar, names[op], k=self.integer(right, 0, 9, "a digit"))
        if op == "%":
            return build(self.grammar, "mod", k=self.integer(right, 1, 5, "a modulus"))
        raise self.error(self.unwrap(node), f"uses operator {op!r}; expected one of: {FN_FORMS}")

    def pred(self, node: Any) -> Node:
        try:
            left, op, right = self._binary(node)
        except InputError:
            raise self.error(self.unwrap(node), f"is outside the subset; expected one of: {PRED_FORMS}") from None
        if op in (">", "<") and self.is_x(left):
            return build(self.grammar, "gt" if op == ">" else "lt", k=self.integer(right, 0, 9, "a digit"))
        if op == "==":
            lhs = self.unwrap(left)
            value = self.unwrap(right)
            if lhs.type == "binary_operator" and value.type == "integer" and value.text in (b"0", b"1"):
                inner_left, inner_op, inner_right = self._binary(lhs)
                if self.is_x(inner_left) and inner_op == "%" and self.unwrap(inner_right).text == b"2":
                    return build(self.grammar, "even" if value.text == b"0" else "odd")
        raise self.error(self.unwrap(node), f"is a condition outside the subset; expected one of: {PRED_FORMS}")


def read_python(text: str, grammar: Grammar, source: str = "<python>") -> Node:
    """One Python expression (a whole file: comments and blank lines allowed) as a pylists tree."""
    data = text.encode("utf-8")
    root = _parser().parse(data).root_node
    if root.has_error:
        bad = _first_error(root)
        line, col = bad.start_point
        raise InputError(f"{source}:{line + 1}:{col + 1}: Python syntax error near "
                         f"`{bad.text.decode('utf-8', 'replace')[:40]}`; expected one Python expression")
    statements = [c for c in root.named_children if c.type != "comment"]
    reader = Reader(grammar, source, data)
    if len(statements) != 1 or statements[0].type != "expression_statement":
        where = statements[1] if len(statements) > 1 else (statements[0] if statements else root)
        raise reader.error(where, "is not the one expression a program is; expected exactly one list expression")
    exprs = reader.kids(statements[0])
    if len(exprs) != 1:
        raise reader.error(statements[0], "is not one expression; expected exactly one list expression")
    return reader.expr(exprs[0])


def read_python_file(path: Path, grammar: Grammar) -> Node:
    """:func:`read_python` on a file (the front-end of ``treediff solve pylists T --start FILE.py``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"program file {str(path)!r} cannot be read: {exc}; expected UTF-8 Python") from None
    return read_python(text, grammar, str(path))


def has_errors(text: str) -> bool:
    """Whether tree-sitter finds syntax errors (ERROR or MISSING nodes) in ``text``."""
    return bool(_parser().parse(text.encode("utf-8")).root_node.has_error)


def _first_error(node: Any) -> Any:
    if node.type == "ERROR" or node.is_missing:
        return node
    for child in node.children:
        if child.has_error:
            return _first_error(child)
    return node
