"""Keep credentials out of config files and out of everything tokenlake prints or writes.

Credentials come only from the environment, instance profiles / managed identities, or
Databricks secret scopes (which arrive as environment variables). A config that carries one is
refused; text that might contain one (error messages, URLs) goes through ``redact`` first.
"""
from __future__ import annotations

import logging
import os
import re

# Keys that hold credentials, in config mappings (storage_options, engine.conf).
SECRET_KEY = re.compile(r"secret|password|passwd|token|(^|[._-])sas($|[._-])|account[._-]?key|access[._-]?key|"
                        r"credential|private[._-]?key|signature", re.IGNORECASE)
# Credential-bearing parts of URLs: Databricks Connect tokens, SAS signatures, presigned S3 URLs.
_URL_SECRET = re.compile(r"((?:token|sig|se|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|"
                         r"AWSAccessKeyId|Signature|code)=)[^;&\s\"']+", re.IGNORECASE)
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@", re.IGNORECASE)
ENV_CREDENTIALS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID", "AZURE_STORAGE_KEY",
                   "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_CLIENT_SECRET",
                   "AZURE_STORAGE_CONNECTION_STRING", "DATABRICKS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS")


def secret_keys(mapping: dict[str, str]) -> list[str]:
    return sorted(k for k in mapping if SECRET_KEY.search(k))


def redact(text: str) -> str:
    """Text with URL credentials and the values of credential environment variables masked."""
    text = _URL_SECRET.sub(r"\1***", text)
    text = _USERINFO.sub(r"\1***@", text)
    for name in ENV_CREDENTIALS:
        value = os.environ.get(name)
        if value and len(value) >= 6:
            text = text.replace(value, f"<{name}>")
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def install_log_redaction() -> None:
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


# Rust crates under Sail and deltalake print credential ids in their debug logs (seen:
# deltalake_aws prints the AWS access key id when it builds an object store). Their debug output
# stays off even when RUST_LOG asks for debug everywhere; more specific directives win.
_QUIET_CRATES = ("deltalake_aws", "deltalake_azure", "deltalake_gcp", "object_store", "aws_config",
                 "aws_credential_types", "aws_sdk_sts", "azure_identity", "reqwest", "hyper", "h2")


def safe_rust_log(value: str | None, default: str = "error") -> str:
    """RUST_LOG with the credential-printing crates capped at info."""
    base = value or default
    return ",".join([base] + [f"{crate}=info" for crate in _QUIET_CRATES if f"{crate}=" not in base])
