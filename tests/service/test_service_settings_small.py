"""The service tests' small settings point every file into the test's folder."""

from __future__ import annotations

from support import primary_names, small_settings


def test_small_settings_point_every_file_into_tmp_path(tmp_path):
    settings = small_settings(tmp_path)
    assert str(tmp_path) in settings.resolved_database_url
    assert settings.token_log_path.parent == tmp_path / "run"
    assert len(primary_names()) == 8
