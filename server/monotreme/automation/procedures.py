"""Procedures in Platypush's YAML syntax, compiled at load into steps.

    procedure.at_home(who):            # `procedure.sync.NAME` is the same;
      - action: variable.set           # `procedure.async.NAME` runs its
        args: {home: true}             # steps in parallel
      - if ${who == "guest"}:
          - return: {welcome: false}
      - else:
          - action: utils.echo
            args: {greeting: "hello ${who}"}

Steps: `action`/`args`; `set: {name: expr}`; `if ${expr}:`, `elif ${expr}:`,
`else:`; `for x in ${expr}:`; `fork x in ${expr}:` (iterations in parallel);
`while ${expr}:`; `break`; `continue`; `return` and `return: value`. After an
action step the context holds its `output` and `errors` and, when the output is
a dict, its keys. A procedure answers its `return` value, else the last
action's output. A failing step fails the procedure with an error naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from monotreme.actions.dispatcher import ActionError
from monotreme.actions.schema import ActionSpec, Param
from monotreme.automation.templates import Context, Evaluator, Expression, compile_value
from monotreme.errors import ServiceError
from monotreme.values import from_json

# Runs an action by name with its arguments; answers its output or raises.
RunAction = Callable[[str, dict[str, Any]], Awaitable[Any]]

_DECLARATION = re.compile(r"^procedure\.(?:(sync|async)\.)?([A-Za-z_][\w.]*?)(?:\(([^)]*)\))?$")
_IF = re.compile(r"^(if|elif)\s*\$\{(.*)\}\s*$", re.DOTALL)
_LOOP = re.compile(r"^(for|fork)\s+([A-Za-z_]\w*)\s+in\s+\$\{(.*)\}\s*$", re.DOTALL)
_WHILE = re.compile(r"^while\s*\$\{(.*)\}\s*$", re.DOTALL)
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


class StepError(ActionError):
    """A step that cannot load or that failed; `where` names it (`step 3.1`)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Returned(Exception):
    """`return`: ends the procedure (or hook) with a value."""

    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass
class Scope:
    """What steps run over: the context and the way to run actions."""

    context: Context
    run_action: RunAction
    last_output: Any = None

    def fork(self) -> Scope:
        return Scope(dict(self.context), self.run_action, self.last_output)


class Step:
    where: str

    async def run(self, scope: Scope) -> None:
        raise NotImplementedError


async def run_steps(steps: Sequence[Step], scope: Scope, parallel: bool = False) -> None:
    if not parallel:
        for step in steps:
            await step.run(scope)
        return
    branches = [scope.fork() for _ in steps]
    await _gather_branches([step.run(branch) for step, branch in zip(steps, branches, strict=True)])
    outputs = [b.last_output for b in branches if b.last_output is not None]
    scope.last_output = outputs[-1] if outputs else scope.last_output


async def _gather_branches(runs: list[Awaitable[None]]) -> None:
    """Runs branches together; `return`, `break` and `continue` end only their branch."""

    async def branch(run: Awaitable[None]) -> None:
        with contextlib.suppress(Returned, _Break, _Continue):
            await run

    async with asyncio.TaskGroup() as group:
        for run in runs:
            group.create_task(branch(run))


def _evaluate(step: Step, evaluate: Evaluator, scope: Scope) -> Any:
    try:
        return evaluate(scope.context)
    except ValueError as e:
        raise StepError(step.where, str(e)) from None


@dataclass
class ActionStep(Step):
    where: str
    action: str
    args: Evaluator

    async def run(self, scope: Scope) -> None:
        args = _evaluate(self, self.args, scope)
        if not isinstance(args, dict):
            raise StepError(f"{self.where} ({self.action})", "args must evaluate to a mapping")
        try:
            output = await scope.run_action(self.action, args)
        except ServiceError as e:
            if e.reason == "DEADLINE_EXCEEDED":
                raise
            raise StepError(f"{self.where} ({self.action})", e.message) from None
        except StepError as e:  # a nested procedure's step: name both
            raise StepError(f"{self.where} ({self.action})", str(e)) from None
        except Exception as e:
            raise StepError(f"{self.where} ({self.action})", str(e) or type(e).__name__) from None
        scope.context.update(output if isinstance(output, dict) else {})
        scope.context.update(output=output, errors=[])
        scope.last_output = output


@dataclass
class SetStep(Step):
    where: str
    values: dict[str, Evaluator]

    async def run(self, scope: Scope) -> None:
        for name, evaluate in self.values.items():
            scope.context[name] = _evaluate(self, evaluate, scope)


@dataclass
class ReturnStep(Step):
    where: str
    value: Evaluator | None

    async def run(self, scope: Scope) -> None:
        raise Returned(None if self.value is None else _evaluate(self, self.value, scope))


@dataclass
class JumpStep(Step):
    where: str
    signal: type[Exception]

    async def run(self, scope: Scope) -> None:
        raise self.signal()


@dataclass
class IfStep(Step):
    where: str
    branches: list[tuple[Expression, list[Step]]]
    otherwise: list[Step]

    async def run(self, scope: Scope) -> None:
        for condition, steps in self.branches:
            if _evaluate(self, condition, scope):
                return await run_steps(steps, scope)
        await run_steps(self.otherwise, scope)


@dataclass
class LoopStep(Step):
    where: str
    variable: str
    items: Expression
    body: list[Step]
    parallel: bool

    async def run(self, scope: Scope) -> None:
        items = from_json(_evaluate(self, self.items, scope))
        try:
            items = list(items)
        except TypeError:
            raise StepError(self.where, f"${{{self.items.source}}} is not iterable") from None
        if self.parallel:
            branches = [scope.fork() for _ in items]
            for branch, item in zip(branches, items, strict=True):
                branch.context[self.variable] = item
            await _gather_branches([run_steps(self.body, branch) for branch in branches])
            return
        for item in items:
            scope.context[self.variable] = item
            try:
                await run_steps(self.body, scope)
            except _Continue:
                continue
            except _Break:
                break
            await asyncio.sleep(0)  # a loop of `set` steps alone must not hold the event loop


@dataclass
class WhileStep(Step):
    where: str
    condition: Expression
    body: list[Step]

    async def run(self, scope: Scope) -> None:
        while _evaluate(self, self.condition, scope):
            try:
                await run_steps(self.body, scope)
            except _Continue:
                pass
            except _Break:
                break
            await asyncio.sleep(0)


def compile_steps(raw: Any, where: str) -> list[Step]:
    """The steps of a list (or one step); StepError names the first bad one."""
    items = raw if isinstance(raw, list) else [raw]
    steps: list[Step] = []
    pending_if: IfStep | None = None
    for number, item in enumerate(items, 1):
        here = f"{where}.{number}" if where != "step" else f"step {number}"
        if isinstance(item, dict) and len(item) == 1:
            ((key, body),) = item.items()
            if isinstance(key, str) and (key == "else" or key.startswith("elif")):
                if pending_if is None:
                    raise StepError(here, f"'{key.split()[0]}' without an 'if' before it")
                if key == "else":
                    pending_if.otherwise = compile_steps(body, here)
                    pending_if = None
                else:
                    match = _IF.match(key)
                    if match is None:
                        raise StepError(here, "write elif as 'elif ${expression}'")
                    pending_if.branches.append((_expression(match[2], here), compile_steps(body, here)))
                continue
        step = _compile_step(item, here)
        pending_if = step if isinstance(step, IfStep) else None
        steps.append(step)
    return steps


def _expression(source: str, where: str) -> Expression:
    try:
        return Expression(source)
    except ValueError as e:
        raise StepError(where, str(e)) from None


def _value(raw: Any, where: str) -> Evaluator:
    try:
        return compile_value(raw)
    except ValueError as e:
        raise StepError(where, str(e)) from None


def _compile_step(item: Any, where: str) -> Step:
    if item in ("break", "continue"):
        return JumpStep(where, _Break if item == "break" else _Continue)
    if item == "return":
        return ReturnStep(where, None)
    if not isinstance(item, dict):
        raise StepError(
            where, f"expected a step (a mapping such as {{action: ..., args: ...}}), got {item!r}"
        )
    if "action" in item:
        unknown = set(item) - {"action", "args"}
        if unknown:
            raise StepError(where, f"unknown key(s) {', '.join(sorted(map(str, unknown)))} beside 'action'")
        action, args = item["action"], item.get("args") or {}
        if not isinstance(action, str) or "." not in action:
            raise StepError(where, f"action must be 'plugin.action' or 'procedure.name', got {action!r}")
        if not isinstance(args, dict):
            raise StepError(f"{where} ({action})", "args must be a mapping")
        return ActionStep(where, action, _value(args, f"{where} ({action})"))
    if len(item) != 1:
        raise StepError(where, f"expected one construct or an action, got keys {', '.join(map(str, item))}")
    ((key, body),) = item.items()
    if key == "set":
        if not isinstance(body, dict) or not all(isinstance(k, str) and _IDENTIFIER.match(k) for k in body):
            raise StepError(where, "set takes a mapping of variable names to values")
        return SetStep(where, {name: _value(value, where) for name, value in body.items()})
    if key == "return":
        return ReturnStep(where, _value(body, where))
    if not isinstance(key, str):
        raise StepError(where, f"unknown construct {key!r}")
    if match := _IF.match(key):
        if match[1] == "elif":
            raise StepError(where, "'elif' without an 'if' before it")
        return IfStep(where, [(_expression(match[2], where), compile_steps(body, where))], [])
    if match := _LOOP.match(key):
        kind, variable, source = match.groups()
        return LoopStep(
            where, variable, _expression(source, where), compile_steps(body, where), kind == "fork"
        )
    if match := _WHILE.match(key):
        return WhileStep(where, _expression(match[1], where), compile_steps(body, where))
    raise StepError(
        where,
        f"unknown construct '{key}' (known: action, set, if ${{...}}, elif ${{...}}, else, "
        "for x in ${...}, fork x in ${...}, while ${...}, break, continue, return)",
    )


@dataclass(frozen=True)
class Procedure:
    """A compiled YAML procedure."""

    name: str
    parameters: tuple[str, ...]
    steps: list[Step]
    parallel: bool

    async def __call__(self, run_action: RunAction, args: dict[str, Any]) -> Any:
        scope = Scope({**dict.fromkeys(self.parameters), **args}, run_action)
        try:
            await run_steps(self.steps, scope, self.parallel)
        except Returned as answer:
            return answer.value
        except (_Break, _Continue):
            pass  # outside a loop they end the procedure, as Platypush does
        except StepError as e:
            raise StepError(self.name, str(e)) from None
        return scope.last_output

    def spec(self, run_action: RunAction, source: str) -> ActionSpec:
        """The action that runs this procedure, for the registry and discovery."""

        async def run(**args: Any) -> Any:
            return await self(run_action, args)

        params = tuple(Param(name, "any", True, "", None) for name in self.parameters)
        mode = "parallel steps" if self.parallel else "steps"
        doc = f"YAML procedure from {source}: {len(self.steps)} {mode}."
        return ActionSpec(self.name, doc, params, True, run)


def compile_procedure(key: str, raw: Any) -> Procedure:
    """`procedure.NAME[(a, b)]` and its steps; StepError (where: the step) for a mistake."""
    match = _DECLARATION.match(key)
    if match is None:
        raise StepError("name", "write it as procedure.NAME or procedure.NAME(arg, ...)")
    mode, name, declared = match.groups()
    parameters = tuple(p.strip() for p in (declared or "").split(",") if p.strip())
    bad = [p for p in parameters if not _IDENTIFIER.match(p)]
    if bad:
        raise StepError("arguments", f"'{bad[0]}' is not a valid argument name")
    if raw is None:
        raise StepError("steps", "a procedure needs a list of steps")
    return Procedure(f"procedure.{name}", parameters, compile_steps(raw, "step"), mode == "async")
