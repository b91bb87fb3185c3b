"""Library errors become HTTP statuses by class. No weights: a bare app with the handlers."""

from __future__ import annotations

import inspect

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from faceprint import errors
from faceprint.service.problems import STATUS_BY_CLASS, install_handlers, status_of


def _error_classes() -> set[type[errors.FaceprintError]]:
    """Every FaceprintError class defined in faceprint.errors, found two ways."""
    found: set[type[errors.FaceprintError]] = set()
    pending = [errors.FaceprintError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    found |= {
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, errors.FaceprintError)
    }
    return {cls for cls in found if cls.__module__ == errors.__name__}


def test_every_library_error_class_has_an_explicit_status() -> None:
    classes = _error_classes()
    assert len(classes) > 20  # the walk found the tree
    missing = sorted(cls.__name__ for cls in classes if cls not in STATUS_BY_CLASS)
    assert not missing, f"give these a status in service/problems.py STATUS_BY_CLASS: {missing}"
    assert all(400 <= status <= 599 for status in STATUS_BY_CLASS.values())


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.ConfigError, 400),
        (errors.CalibrationError, 400),
        (errors.NotFoundError, 404),
        (errors.AlreadyExistsError, 409),
        (errors.ModelMismatchError, 409),
        (errors.ImageTooLargeError, 413),
        (errors.UnsupportedImageError, 415),
        (errors.CorruptImageError, 422),
        (errors.NoFaceError, 422),
        (errors.GalleryCorruptError, 500),
        (errors.ModelRuntimeError, 500),
        (errors.GalleryError, 503),
        (errors.ModelNotAvailableError, 503),
        (errors.LicenceNotAcceptedError, 503),
        (errors.FaceprintError, 500),
    ],
)
def test_documented_statuses(error: type[errors.FaceprintError], status: int) -> None:
    assert status_of(error("x")) == status


class _UnlistedTooLargeError(errors.ImageTooLargeError):
    code = "unlisted_too_large"


class _UnlistedDeeperError(_UnlistedTooLargeError):
    pass


class _UnlistedLookupError(errors.NotFoundError, KeyError):
    pass


class _UnlistedRootError(errors.FaceprintError):
    code = "unlisted_root"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (_UnlistedTooLargeError, 413),
        (_UnlistedDeeperError, 413),
        (_UnlistedLookupError, 404),
        (_UnlistedRootError, 500),
    ],
)
def test_an_unlisted_subclass_falls_back_through_its_parents(
    error: type[errors.FaceprintError], status: int
) -> None:
    assert error not in STATUS_BY_CLASS
    assert status_of(error("x")) == status


def test_the_handler_answers_problem_json_with_the_class_status_and_own_code() -> None:
    app = FastAPI()
    install_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise _UnlistedDeeperError("an image of 99 MP is over the limit")

    response = TestClient(app).get("/boom")
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["error"] == {
        "code": "unlisted_too_large",
        "message": "an image of 99 MP is over the limit",
    }
