"""`marketdata --help`, `--version`, every command's help (description, example, exit codes) and the
exit codes of usage errors: pure command-line logic, in process (no database is reached)."""

from __future__ import annotations

from importlib.metadata import version

import click
import pytest

from marketdata_pipeline.cli.main import cli, main


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


def test_version_comes_from_the_package_metadata(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"marketdata {version('marketdata-pipeline')}"


def test_top_level_help_documents_exit_codes_and_completion(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for line in ("0  ok", "1  unhealthy data", "2  usage error", "3  configuration or connection error",
                 "_MARKETDATA_COMPLETE=bash_source marketdata"):
        assert line in out


@pytest.mark.parametrize("path", _commands(cli), ids=" ".join)
def test_every_command_has_a_description_and_examples(capsys, path):
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out, out
    command = cli
    for name in path:
        command = command.commands[name]
    assert command.help and len(command.help.split()) > 3
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help and "Example" in param.help, (path, param.name)
        if isinstance(param, click.Argument):  # click arguments have no help=: the epilog documents them
            assert param.name.upper() in (command.epilog or ""), (path, param.name)


def test_usage_errors_exit_2(capsys):
    assert main(["bars"]) == 2  # missing arguments
    assert main(["bars", "AAPL", "1d", "--format", "xml"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["symbols", "add", "BRK|B"]) == 2
    err = capsys.readouterr().err
    assert "error: malformed ticker 'BRK|B'" in err


def test_run_warns_when_binding_beyond_loopback():
    from marketdata_pipeline.cli.run import client_host, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.com")
    assert client_host("0.0.0.0") == "127.0.0.1" and client_host("10.0.0.2") == "10.0.0.2"


def test_completion_lists_commands(monkeypatch, capsys):
    monkeypatch.setenv("_MARKETDATA_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "marketdata sym")
    monkeypatch.setenv("COMP_CWORD", "1")
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 0
    assert "plain,symbols" in capsys.readouterr().out


def test_tables_are_rich_on_a_terminal_and_plain_in_a_pipe(monkeypatch, capsys):
    from marketdata_pipeline.cli.console import print_table

    print_table(["symbol", "state"], [["AAPL", "Fresh"]], ["green"])
    assert capsys.readouterr().out.splitlines() == ["symbol  state", "AAPL    Fresh"]
    monkeypatch.setenv("FORCE_COLOR", "1")
    print_table(["symbol", "state"], [["AAPL", "Fresh"]], ["green"])
    out = capsys.readouterr().out
    assert "\x1b[" in out and "\u2503" in out and "AAPL" in out  # ANSI colours and a box-drawn header
