"""Tests of archivers.config: Temporal's ``archival`` YAML section -> per-scheme settings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from archivers.config import ArchivalConfig, ConfigError, config_from_document, load_config
from archivers.errors import InvalidArgumentError

FULL = """
archival:
  history:
    state: enabled
    enableRead: true
    provider:
      filestore:
        fileMode: "0640"
        dirMode: "0750"
      s3store:
        region: us-east-1
        endpoint: http://127.0.0.1:9000
        s3ForcePathStyle: true
      gstorage:
        credentialsPath: /etc/gcs.json
      customStores:
        azblob:
          accountURL: https://acct.blob.core.windows.net
          container: archive
  visibility:
    state: enabled
    provider:
      filestore:
        fileMode: "0600"
      customStores:
        AzBlob: {container: vis}
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_top_level_archival_section(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert dict(config.history_settings("file")) == {"fileMode": "0640", "dirMode": "0750"}
    assert dict(config.history_settings("s3")) == {
        "region": "us-east-1",
        "endpoint": "http://127.0.0.1:9000",
        "s3ForcePathStyle": True,
    }
    assert dict(config.history_settings("gs")) == {"credentialsPath": "/etc/gcs.json"}
    assert dict(config.history_settings("azblob")) == {
        "accountURL": "https://acct.blob.core.windows.net",
        "container": "archive",
    }
    assert dict(config.visibility_settings("file")) == {"fileMode": "0600"}
    assert dict(config.visibility_settings("azblob")) == {"container": "vis"}
    assert dict(config.visibility_settings("s3")) == {}
    assert config.source.endswith("config.yaml")


def test_scheme_lookup_is_case_insensitive(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.history_settings("FILE") == config.history_settings("file")


def test_archival_nested_in_a_bigger_sidecar_file(tmp_path: Path) -> None:
    nested = "sidecar:\n  listen: 127.0.0.1:7979\n  metrics: {port: 9090}\nserver:\n" + textwrap.indent(
        textwrap.dedent(FULL), "  "
    )
    config = load_config(write(tmp_path, nested))
    assert dict(config.history_settings("file")) == {"fileMode": "0640", "dirMode": "0750"}
    assert dict(config.visibility_settings("azblob")) == {"container": "vis"}


def test_archival_beside_other_top_level_keys(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "listen: 0.0.0.0:7979\n" + textwrap.dedent(FULL)))
    assert dict(config.history_settings("gs")) == {"credentialsPath": "/etc/gcs.json"}


def test_custom_store_wins_over_builtin_provider_key() -> None:
    config = config_from_document(
        {
            "archival": {
                "history": {
                    "provider": {
                        "filestore": {"fileMode": "0666"},
                        "customStores": {"file": {"fileMode": "0600"}},
                    }
                }
            }
        }
    )
    assert dict(config.history_settings("file")) == {"fileMode": "0600"}


def test_provider_with_only_custom_stores_and_empty_sections(tmp_path: Path) -> None:
    text = """
    archival:
      history:
        provider:
          customStores:
            azblob:
      visibility:
    """
    config = load_config(write(tmp_path, text))
    assert dict(config.history_settings("azblob")) == {}
    assert dict(config.visibility_settings("file")) == {}


REPO = Path(__file__).resolve().parent.parent

# The shape of Temporal's own development configs (config/development-sqlite.yaml of the server,
# v1.32.2) and of the server config in its docs: provider settings in `archival`, the state and URI
# new namespaces get in `namespaceDefaults.archival`.
TEMPORAL_DEVELOPMENT_CONFIG = """
persistence:
  defaultStore: sqlite-default
archival:
  history:
    state: "enabled"
    enableRead: true
    provider:
      filestore:
        fileMode: "0666"
        dirMode: "0766"
      gstorage:
        credentialsPath: "/tmp/gcloud/keyfile.json"
  visibility:
    state: "enabled"
    enableRead: true
    provider:
      filestore:
        fileMode: "0666"
        dirMode: "0766"
namespaceDefaults:
  archival:
    history:
      state: "disabled"
      URI: "file:///tmp/temporal_archival/development"
    visibility:
      state: "disabled"
      URI: "file:///tmp/temporal_vis_archival/development"
"""


def test_temporal_server_config_with_namespace_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TEMPORAL_DEVELOPMENT_CONFIG))
    assert dict(config.history_settings("file")) == {"fileMode": "0666", "dirMode": "0766"}
    assert dict(config.history_settings("gs")) == {"credentialsPath": "/tmp/gcloud/keyfile.json"}
    assert dict(config.visibility_settings("file")) == {"fileMode": "0666", "dirMode": "0766"}


def test_the_projects_own_server_config_is_read_as_is() -> None:
    config = load_config(str(REPO / "deploy" / "temporal" / "server.yaml"))
    for scheme in ("file", "s3", "gs", "azblob"):
        assert config.history_settings(scheme)["address"] == "127.0.0.1:7299"
        assert config.visibility_settings(scheme)["address"] == "127.0.0.1:7299"


def test_namespace_defaults_alone_is_no_archival_section(tmp_path: Path) -> None:
    text = "namespaceDefaults:\n  archival:\n    history: {state: disabled}\n"
    with pytest.raises(ConfigError, match="no 'archival' section"):
        load_config(write(tmp_path, text))


def test_empty_archival_section_gives_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "archival:\n"))
    assert config.history == {} and config.visibility == {}
    assert dict(ArchivalConfig().history_settings("file")) == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("archival: [1, 2]\n", "archival must be a mapping"),
        ("archival:\n  history: 3\n", "archival.history must be a mapping"),
        ("archival:\n  history:\n    provider: [x]\n", "archival.history.provider must be a mapping"),
        ("archival:\n  history:\n    provider:\n      filestore: 0666\n", "filestore must be a mapping"),
        (
            "archival:\n  history:\n    provider:\n      s3store: {s3ForcePathStyle: 'yes'}\n",
            "s3ForcePathStyle must be a boolean",
        ),
        (
            "archival:\n  visibility:\n    provider:\n      gstorage: {credentialsPath: 5}\n",
            "credentialsPath must be a string",
        ),
        ("archival:\n  history:\n    provider:\n      filestore: {fileMode: true}\n", "fileMode must be"),
        ("archival:\n  history:\n    provider:\n      customStores: [azblob]\n", "customStores must be a mapping"),
        ("sidecar:\n  listen: x\n", "no 'archival' section"),
        ("just a string\n", "no 'archival' section"),
        ("", "no 'archival' section"),
        ("archival: {}\nother:\n  archival: {}\n", "more than one 'archival' section"),
        ("archival:\n  history: [unclosed\n", "invalid YAML at line"),
    ],
)
def test_bad_config_names_file_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(path + ": ")
    assert problem in message
    assert "\n" not in message
    assert isinstance(info.value, InvalidArgumentError)


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read config file"):
        load_config(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path))
