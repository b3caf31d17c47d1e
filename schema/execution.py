"""Subscription events executed once per question, not once per subscriber.

graphql-core executes a subscription's selection set for every event and every subscriber;
with a thousand subscribers on one session that was nearly all of the server's CPU. Here an
event is executed once for each operation (the parsed document: ParserCache gives identical
query texts one object) and the values of the variables its selection uses, and every
other subscriber in the process that asked the same is given that result. The results are
kept on the event itself, in its `rendered` dict, so they live and die with it; a live event
is one object for all of this process's subscribers (`trainer.live`,
`schema.events.to_graphql`).

Sharing is sound because what an event's fields say depends on the event and on the
variables the selection uses, not on who asks: everyone allowed to watch a session sees the
same events. The root field's own arguments (`sessionId`, `afterSeq`) are left out of the
key: only the subscription's resolver reads them, so clients that resumed from different
seqs still share. A result with errors is never shared; each subscriber then executes the
event for itself, so its errors are logged and masked under its own request id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Hashable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from graphql import (
    ExecutionResult,
    ExperimentalIncrementalExecutionResults,
    FieldNode,
    FragmentSpreadNode,
    Node,
    OperationDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)
from graphql.execution import Executor
from graphql.pyutils import AwaitableOrValue
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext, StreamExecutionResult
from strawberry.types import ExecutionResult as StrawberryResult

from trainer import metrics

Outcome = ExecutionResult | ExperimentalIncrementalExecutionResults

_NOT_SHARED = object()
_stdlib_json = json.JSONEncoder(separators=(",", ":")).encode


def compact_json(value: object) -> str:
    """How every answer and websocket message is encoded (server.graphql_app), shared data
    included: orjson, several times quicker than the json module on a page of 20 examples
    with their outputs and votes; the json module for what orjson refuses (an integer
    beyond 64 bits, a lone surrogate in a string)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _stdlib_json(value)


class RenderedData(dict[str, Any]):
    """A shared result's data, with its JSON made once for every subscriber it is sent to:
    the data alone, and the whole payload of a message that carries it (`{"data":...}`)."""

    __slots__ = ("_encoded", "_payload", "_result")
    _encoded: str
    _payload: str
    _result: StrawberryResult

    def encoded(self) -> str:
        try:
            return self._encoded
        except AttributeError:
            self._encoded = compact_json(self)
            return self._encoded

    def payload(self) -> str:
        try:
            return self._payload
        except AttributeError:
            self._payload = '{"data":' + self.encoded() + "}"
            return self._payload

    def result(self) -> StrawberryResult:
        """The result as Strawberry hands it to a transport, made once for all."""
        try:
            return self._result
        except AttributeError:
            self._result = StrawberryResult(data=self, errors=None, extensions={})
            return self._result


class SharedResultRunner(SchemaExtensionsRunner):
    """Strawberry's extension runner, which leaves a shared result alone: the extensions
    have nothing to add to a result without errors (none of them gives results of its own,
    and masking only looks at errors), and what they would do for each subscriber and
    each event was most of what a delivery cost."""

    def __init__(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension] | None = None
    ) -> None:
        super().__init__(execution_context, extensions)
        self.adds_nothing = all(
            type(extension).get_results is SchemaExtension.get_results
            for extension in self.extensions
        )

    def shared(self, result: object) -> StrawberryResult | None:
        """The result to send as it is, when `result` is a shared one."""
        if (
            self.adds_nothing
            and isinstance(result, ExecutionResult)
            and isinstance(result.data, RenderedData)
            and not result.errors
            and not result.extensions
            and not self.execution_context.extensions_results
        ):
            return result.data.result()
        return None

    def on_stream_result(self, result: StreamExecutionResult) -> Any:
        if isinstance(getattr(result, "data", None), RenderedData) and (
            getattr(result, "errors", None) is None
        ):
            return _UNTOUCHED
        return super().on_stream_result(result)


class _Untouched:
    """The stream-result hooks of a shared result: none."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_UNTOUCHED = _Untouched()


@dataclass(slots=True)
class _Entry:
    # The entry holds the operation, so the operation's id in the memo's key stays its own.
    operation: OperationDefinitionNode
    result: ExecutionResult | None = None
    # Set while the first subscriber's execution awaits an async field: the others wait for
    # it, and get its result, or None when it cannot be shared.
    pending: asyncio.Future[ExecutionResult | None] | None = None


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, executing each subscription event once per operation and
    variable values. Queries and mutations run as they always do."""

    _key: Hashable = None
    _sharing: tuple[dict[Hashable, _Entry], Hashable] | None = None

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        memo = getattr(payload, "rendered", None)
        if self._key is None:
            self._key = _key_of(self)
        if not isinstance(memo, dict) or self._key is _NOT_SHARED:
            metrics.RESULT_EXECUTED.inc()
            return super().build_per_event_executor(payload)
        entry = memo.get(self._key)
        if entry is not None and entry.result is not None:
            metrics.RESULT_SHARED.inc()
            return _Rendered(entry.result)
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor, SharedEventExecutor)
        executor._sharing = (memo, self._key)
        return executor

    def execute_operation(self, serially: bool | None = None) -> AwaitableOrValue[Outcome]:
        if self._sharing is None:
            return super().execute_operation(serially)
        memo, key = self._sharing
        entry = memo.get(key)
        if entry is not None:
            if entry.result is not None:
                metrics.RESULT_SHARED.inc()
                return entry.result
            if entry.pending is not None:
                return self._wait_for(entry.pending, serially)
        metrics.RESULT_EXECUTED.inc()
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            entry = memo[key] = _Entry(self.operation)
            entry.pending = asyncio.get_running_loop().create_future()
            return self._finish(memo, key, entry, result)
        if _shareable(result):
            memo[key] = _Entry(self.operation, _rendered(result))
        return result

    async def _finish(
        self,
        memo: dict[Hashable, _Entry],
        key: Hashable,
        entry: _Entry,
        awaitable: Awaitable[Outcome],
    ) -> Outcome:
        """The first subscriber's execution of an event with async fields: shared once done,
        and released even when that subscriber goes away meanwhile."""
        pending = entry.pending
        assert pending is not None
        result: Outcome | None = None
        try:
            result = await awaitable
            return result
        finally:
            entry.pending = None
            if result is not None and _shareable(result):
                entry.result = _rendered(result)
            elif memo.get(key) is entry:
                del memo[key]
            pending.set_result(entry.result)

    async def _wait_for(
        self, pending: asyncio.Future[ExecutionResult | None], serially: bool | None
    ) -> Outcome:
        # Shielded: a subscriber that goes away must not cancel the others' result.
        shared = await asyncio.shield(pending)
        if shared is not None:
            metrics.RESULT_SHARED.inc()
            return shared
        metrics.RESULT_EXECUTED.inc()
        own = super().execute_operation(serially)
        return await own if self.is_awaitable(own) else cast(Outcome, own)


class _Rendered(Executor[Any]):
    """Stands in for a per-event executor when the event's result is already rendered."""

    def __init__(self, result: ExecutionResult) -> None:  # no executor state is needed
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> AwaitableOrValue[Outcome]:
        return self.result


class _Variables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.fragments: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: object) -> None:
        self.names.add(node.name.value)

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
        self.fragments.add(node.name.value)


def _key_of(executor: Executor[Any]) -> Hashable:
    """What an event's result depends on besides the event: the operation, and the values of
    the variables it uses outside its root field's arguments (all of them, should its root
    not be a plain field)."""
    operation = executor.operation
    variables = executor.variable_values.coerced
    roots = operation.selection_set.selections
    if all(isinstance(root, FieldNode) for root in roots):
        found = _Variables()
        nodes: list[Node] = [*(operation.directives or ())]
        for root in cast(tuple[FieldNode, ...], roots):
            nodes.extend(root.directives or ())
            if root.selection_set is not None:
                nodes.append(root.selection_set)
        visited: set[str] = set()
        while nodes:
            visit(nodes.pop(), found)
            for name in found.fragments - visited:
                visited.add(name)
                if name in executor.fragment_definitions:
                    nodes.append(executor.fragment_definitions[name])
        variables = {name: variables[name] for name in found.names if name in variables}
    try:
        return (id(operation), _frozen(variables))
    except TypeError:  # a value that cannot be hashed: this subscriber renders its own
        return _NOT_SHARED


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in for coerced variable values, equal only for equal values of the
    same types (1, 1.0 and True are different answers)."""
    if isinstance(value, dict):
        return (dict, tuple(sorted((key, _frozen(item)) for key, item in value.items())))
    if isinstance(value, list | tuple):
        return (list, tuple(_frozen(item) for item in value))
    hash(value)
    return (type(value), value)


def _shareable(result: object) -> bool:
    return isinstance(result, ExecutionResult) and not result.errors and result.data is not None


def _rendered(result: object) -> ExecutionResult:
    assert isinstance(result, ExecutionResult)
    assert result.data is not None
    result.data = RenderedData(result.data)
    return result
