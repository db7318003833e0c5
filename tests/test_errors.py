"""Every error class of :mod:`archivers.errors`: one constructor shape, and pickling keeps everything."""

from __future__ import annotations

import inspect
import pickle

import pytest

from archivers import errors
from archivers.errors import ArchiverError, MissingDependencyError, QueryError

ERROR_CLASSES = sorted(
    (cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, ArchiverError)),
    key=lambda cls: cls.__name__,
)

OWN_ATTRIBUTES: dict[type[ArchiverError], dict[str, object]] = {
    QueryError: {"position": 7, "suggestion": "did you mean 'WorkflowType'?"},
    MissingDependencyError: {"extra": "s3", "module": "boto3"},
}
"""Keyword attributes of the classes that have their own, with values other than the defaults."""


def test_every_error_class_is_listed() -> None:
    assert len(ERROR_CLASSES) >= 15
    for cls in ERROR_CLASSES:
        own = set(inspect.signature(cls.__init__).parameters) - {"self", "message", "retryable"}
        assert own == set(OWN_ATTRIBUTES.get(cls, {})), cls


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_takes_a_message_and_keywords(cls: type[ArchiverError]) -> None:
    error = cls("it broke")
    assert str(error) == error.message == "it broke"
    assert error.retryable is cls.retryable
    assert cls("it broke", retryable=not cls.retryable).retryable is not cls.retryable
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name not in ("self", "message"):
            assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, (cls, name)
            assert parameter.default is not inspect.Parameter.empty, (cls, name)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("retryable", [None, True, False])
def test_every_error_survives_pickling(cls: type[ArchiverError], retryable: bool | None) -> None:
    attributes = OWN_ATTRIBUTES.get(cls, {})
    error = cls("it broke", retryable=retryable, **attributes)  # type: ignore[arg-type]
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error) and copy.message == error.message
    assert copy.retryable is error.retryable
    for name, value in attributes.items():
        assert getattr(copy, name) == value


def test_query_error_text_names_position_and_suggestion() -> None:
    error = QueryError("unknown field", position=3, suggestion="did you mean 'RunId'?")
    assert str(error) == "unknown field (at position 3); did you mean 'RunId'?"
    assert (error.position, error.suggestion) == (3, "did you mean 'RunId'?")


def test_missing_dependency_for_backend_names_the_extra() -> None:
    error = MissingDependencyError.for_backend("s3", extra="s3", module="boto3")
    assert str(error) == "the 's3' backend needs the 'boto3' package: pip install 'temporal-archivers[s3]'"
    assert (error.extra, error.module, error.retryable) == ("s3", "boto3", False)
    assert isinstance(error, ImportError)
