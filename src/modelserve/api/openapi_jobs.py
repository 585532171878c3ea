"""The batch-scoring part of the OpenAPI document: upload a file, follow its job."""

from __future__ import annotations

from typing import Any

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
TOKEN = [{"token": []}]
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
FORMAT = {
    "name": "format",
    "in": "query",
    "required": False,
    "schema": {"enum": ["csv", "ndjson"]},
    "description": "Else the Accept header (text/csv or application/x-ndjson); CSV by default.",
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": PROBLEM}


def _job_body(description: str) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Job"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _file(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }


def batch_operation(sync_rows: int) -> dict[str, Any]:
    return {
        "tags": ["batch"],
        "operationId": "score_file",
        "summary": "Score a CSV or JSON Lines file",
        "description": (
            f"Up to {sync_rows:,} rows the answer comes at once, in the format of `Accept` "
            "(JSON by default, or text/csv, application/x-ndjson). Larger files, or "
            "`Prefer: respond-async`, get `202 Accepted` and a `Location` to follow. Invalid "
            "rows are reported by row, line, field and rule and the others are scored; with "
            "`strict=true` any invalid row rejects the file before scoring (422)."
        ),
        "security": TOKEN,
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "strict", "in": "query", "required": False, "schema": {"type": "boolean"}},
            {
                "name": "filename",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "A label for the job (the file is stored under a generated name).",
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        },
        "responses": {
            "200": {
                "description": "Scored at once",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/BatchAnswer"}},
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            },
            "202": _job_body("Queued as a job: follow the Location header"),
            "400": _problem("No file part"),
            "401": _problem("No or bad API token"),
            "403": _problem("The token or its user may not use this model"),
            "404": _problem("No such model"),
            "413": _problem("More bytes or rows than allowed"),
            "415": _problem("Neither CSV nor JSON Lines"),
            "422": _problem("The file cannot be read, or (strict) some rows are invalid"),
        },
    }


def paths(sync_rows: int) -> dict[str, Any]:
    def operation(op_id: str, summary: str, ok: dict[str, Any], *params: Any) -> dict[str, Any]:
        return {
            "tags": ["batch"],
            "operationId": op_id,
            "summary": summary,
            "security": TOKEN,
            "parameters": [JOB_ID, *params],
            "responses": {
                "200" if op_id != "cancel_job" else "202": ok,
                "401": _problem("No or bad API token"),
                "404": _problem("No such job (or not yours)"),
                "409": _problem("Not available in the job's state"),
                "410": _problem("The result expired and was deleted"),
            },
        }

    return {
        "/api/v1/models/{name}/batch": {"post": batch_operation(sync_rows)},
        "/api/v1/jobs": {
            "get": {
                "tags": ["batch"],
                "operationId": "list_jobs",
                "summary": "Your jobs, newest first",
                "security": TOKEN,
                "responses": {
                    "200": {
                        "description": "The jobs",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "jobs": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Job"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "401": _problem("No or bad API token"),
                },
            }
        },
        "/api/v1/jobs/{job_id}": {
            "get": operation("get_job", "A job's status and progress", _job_body("The job"))
        },
        "/api/v1/jobs/{job_id}/result": {
            "get": operation(
                "get_job_result",
                "The scored file: original columns, label, one probability per class, error",
                _file("The result"),
                FORMAT,
            )
        },
        "/api/v1/jobs/{job_id}/errors": {
            "get": operation(
                "get_job_errors",
                "The rejected rows: row, line, field, code, message",
                _file("The errors report"),
                FORMAT,
            )
        },
        "/api/v1/jobs/{job_id}/cancel": {
            "post": operation("cancel_job", "Cancel a job", _job_body("The job, cancelling"))
        },
    }


PROGRESS = {
    "type": "object",
    "properties": {
        "rows_total": {"type": "integer"},
        "rows_done": {"type": "integer"},
        "rows_scored": {"type": "integer"},
        "rows_rejected": {"type": "integer"},
        "percent": {"type": "number"},
        "rows_per_second": {"type": ["number", "null"]},
        "seconds_left": {"type": ["number", "null"]},
    },
}

SCHEMAS: dict[str, Any] = {
    "Job": {
        "type": "object",
        "required": ["id", "model", "status", "progress"],
        "properties": {
            "id": {"type": "string"},
            "model": {"type": "string"},
            "version": {"type": "string"},
            "status": {
                "enum": ["uploaded", "queued", "running", "succeeded", "failed", "cancelled"]
            },
            "filename": {"type": "string"},
            "size": {"type": "integer"},
            "strict": {"type": "boolean"},
            "format": {"type": "object"},
            "notes": {"type": "array", "items": {"type": "string"}},
            "progress": PROGRESS,
            "cancel_requested": {"type": "boolean"},
            "error": {"type": ["object", "null"]},
            "created_at": {"type": "string"},
            "started_at": {"type": ["string", "null"]},
            "finished_at": {"type": ["string", "null"]},
            "expires_at": {"type": ["string", "null"]},
            "result_available": {"type": "boolean"},
            "links": {"type": "object"},
        },
    },
    "BatchAnswer": {
        "type": "object",
        "required": ["job", "columns", "rows", "errors"],
        "properties": {
            "job": {"$ref": "#/components/schemas/Job"},
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": {"type": "array"}},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    },
}
