"""S3 ingestion: list a prefix, stream each new object to a temp file, hand it to the loader.

Objects are identified by key + ETag: an object whose key and ETag are already in raw.files as loaded
is skipped without being downloaded; any other object is downloaded in chunks (never whole in memory)
and the loader's sha256 check then skips content that was already loaded under another name.

An object that cannot be fetched (retries exhausted mid-stream, a full disk while writing the temp
file, access denied) is one clear error for that object; the other objects go on.
"""

from __future__ import annotations

import errno
import logging
import tempfile
from functools import partial
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

from insiders.errors import UserError
from insiders.layouts import Layout
from insiders.load import SUPPORTED_SUFFIXES, LoadLimits, LoadResult, load_file
from insiders.settings import Settings

log = logging.getLogger(__name__)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise UserError(f"not an S3 URI (s3://bucket/prefix/): {uri}")
    return parsed.netloc, parsed.path.lstrip("/")


def make_client(settings: Settings):
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": settings.s3_max_attempts, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
    )
    return boto3.client(
        "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region, config=config
    )


def list_objects(client, bucket: str, prefix: str) -> list[dict]:
    """Export files under the prefix, oldest first (then by key), so loads follow arrival order."""
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(SUPPORTED_SUFFIXES):
                found.append(obj)
    return sorted(found, key=lambda o: (o["LastModified"], o["Key"]))


def _loaded_etag(conn, source_uri: str, etag: str):
    with conn.cursor() as cur:
        cur.execute(
            "select file_id from raw.files where source_uri = %s and etag = %s and status = 'loaded'",
            (source_uri, etag),
        )
        row = cur.fetchone()
    conn.rollback()
    return row[0] if row else None


def _open_target(path: Path) -> IO[bytes]:
    """The temp file an object is streamed into (a seam: tests point it at /dev/full)."""
    return path.open("wb")


def download(client, bucket: str, key: str, local: Path) -> str | None:
    """Stream one object to ``local``; None when done, else why it failed (one line)."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError
    from s3transfer.exceptions import RetriesExceededError

    try:
        with _open_target(local) as fh:
            client.download_fileobj(bucket, key, fh)
    except (BotoCoreError, ClientError, Boto3Error, RetriesExceededError) as exc:
        detail = getattr(exc, "last_exception", None)  # RetriesExceededError: what kept failing
        return f"download failed: {exc}" + (f" (last error: {detail})" if detail else "")
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            return f"download failed: no space left on the device of the temp folder {local.parent.parent}"
        return f"download failed: cannot write the temp file: {exc}"
    return None


def load_s3_prefix(
    conn, uri: str, settings: Settings, client=None, *, layout: Layout | None = None, sink=None
) -> list[LoadResult]:
    """Every new object under the prefix into the warehouse. ``sink`` is the target's pair of
    (loaded_etag(source_uri, etag) → file id or None, load_file(path, **kwargs) → LoadResult);
    None: Postgres through ``conn`` (the Spark pair: spark_cycle.load_sources)."""
    from botocore.exceptions import BotoCoreError, ClientError

    known_etag, load = sink or (partial(_loaded_etag, conn), partial(load_file, conn))
    limits = LoadLimits(settings.max_decompressed_bytes, settings.max_line_bytes)
    bucket, prefix = parse_s3_uri(uri)
    client = client or make_client(settings)
    try:
        objects = list_objects(client, bucket, prefix)
    except (BotoCoreError, ClientError) as exc:
        raise UserError(f"cannot list {uri}: {exc}") from None
    log.info("%s: %d export files", uri, len(objects))
    results = []
    for obj in objects:
        key, etag = obj["Key"], obj["ETag"].strip('"')
        source_uri = f"s3://{bucket}/{key}"
        known = known_etag(source_uri, etag)
        if known:
            results.append(
                LoadResult(source_uri, "skipped", known, message=f"already loaded as file {known}")
            )
            continue
        suffix = ".csv.gz" if key.endswith(".gz") else ".csv"
        with tempfile.TemporaryDirectory(prefix="insiders-s3-") as tmp:
            local = Path(tmp) / f"object{suffix}"
            problem = download(client, bucket, key, local)  # after botocore's retries: try next cycle
            if problem:
                log.error("%s: %s", source_uri, problem)
                results.append(LoadResult(source_uri, "failed", message=problem))
                continue
            result = load(
                local, source_uri=source_uri, file_name=Path(key).name, etag=etag, layout=layout,
                limits=limits,
            )  # fmt: skip
        log.info("%s: %s %s", source_uri, result.status, result.message)
        results.append(result)
    return results
