"""Splitting RUN shell text into simple commands, and finding the program behind wrappers."""

from __future__ import annotations

from mamori.sources.shell import program, shell_script, split, unwrap


def argvs(text: str) -> list[tuple[str, ...]]:
    return [c.argv for c in split(text, file="D", line=1)]


def test_operators_and_quotes() -> None:
    assert argvs("a 'x y' && b \"p q\" || c; d | e & f\ng") == [
        ("a", "x y"), ("b", "p q"), ("c",), ("d",), ("e",), ("f",), ("g",)]


def test_escapes_and_quoted_operators_stay_in_words() -> None:
    assert argvs(r'echo "a && b" a\;b \$HOME') == [("echo", "a && b", "a;b", "$HOME")]


def test_lines_follow_newlines() -> None:
    cmds = split("a\nb && c\n\nd", file="D", line=10)
    assert [(c.argv[0], c.loc.line) for c in cmds] == [("a", 10), ("b", 11), ("c", 11), ("d", 13)]
    assert all(c.loc.file == "D" for c in cmds)


def test_leading_assignments_are_not_argv() -> None:
    assert argvs("DEBIAN_FRONTEND=noninteractive A='x y' apt-get install -y curl") == [
        ("apt-get", "install", "-y", "curl")]
    assert argvs("X=1 Y=2") == [("X=1", "Y=2")]


def test_pipes_record_the_receiver() -> None:
    cmds = split("curl -fsSL https://x | sudo -E bash - && echo ok", file="D", line=1)
    assert cmds[0].piped_to == ("sudo", "-E", "bash", "-")
    assert cmds[1].piped_to == ()
    assert cmds[2].argv == ("echo", "ok")


def test_redirections_are_dropped() -> None:
    assert argvs("curl -o x https://y > /tmp/log 2>&1 && cat < in >> out") == [
        ("curl", "-o", "x", "https://y"), ("cat",)]


def test_command_substitution_and_process_substitution_are_split() -> None:
    assert argvs('V="$(curl -s https://v)"; bash <(wget -qO- https://i)') == [
        ("curl", "-s", "https://v"), ("V=$(curl -s https://v)",), ("wget", "-qO-", "https://i"),
        ("bash", "<(wget -qO- https://i)")]


def test_sh_c_strings_are_split_again() -> None:
    cmds = argvs("sudo sh -c 'apt-get update && apt-get install -y x'")
    assert cmds == [("sudo", "sh", "-c", "apt-get update && apt-get install -y x"), ("apt-get", "update"),
                    ("apt-get", "install", "-y", "x")]
    assert argvs('bash -ec "curl x | sh"')[1:] == [("curl", "x"), ("sh",)]


def test_control_structures_are_stepped_over() -> None:
    text = ('if [ -f a ]; then apt-get install -y x; else echo no; fi; for f in $(ls /d); do rm "$f"; done; '
            'while read l; do echo "$l"; done < list; { echo a; echo b; } ; (cd /x && make)')
    assert argvs(text) == [
        ("[", "-f", "a", "]"), ("apt-get", "install", "-y", "x"), ("echo", "no"), ("ls", "/d"), ("rm", "$f"),
        ("read", "l"), ("echo", "$l"), ("echo", "a"), ("echo", "b"), ("cd", "/x"), ("make",)]


def test_case_patterns_are_not_commands() -> None:
    text = ('case "$arch" in amd64) url=a; sha=1 ;; arm64|aarch64) url=b ;; *) echo >&2 "bad"; exit 1 ;; esac; '
            "echo done | tee x")
    assert argvs(text) == [("url=a",), ("sha=1",), ("url=b",), ("echo", "bad"), ("exit", "1"), ("echo", "done"),
                           ("tee", "x")]
    assert split(text, file="D", line=1)[-2].piped_to == ("tee", "x")


def test_shell_heredoc_bodies_are_data() -> None:
    text = "cat > /etc/x.conf <<'EOF'\napt-get install evil\nEOF\necho after"
    cmds = split(text, file="D", line=5)
    assert [(c.argv, c.loc.line) for c in cmds] == [(("cat",), 5), (("echo", "after"), 8)]


def test_comments_and_arithmetic() -> None:
    assert argvs("echo a # not b && c\nx=$((1 << 2)) y") == [("echo", "a"), ("y",)]


def test_line_of_mapping() -> None:
    cmds = split("a && b", file="D", line=1, line_of=lambda off: 7 if off < 3 else 8)
    assert [c.loc.line for c in cmds] == [7, 8]


def test_unbalanced_input_does_not_crash() -> None:
    for text in ['echo "unterminated', "echo 'x", "$(", "`", "a |", "&& ||", "<<", "((((", "${", "case x in"]:
        split(text, file="D", line=1)


def test_deep_nesting_is_bounded() -> None:
    text = "sh -c " + "'sh -c \"" * 30 + "true"
    assert len(split(text, file="D", line=1)) < 20


def test_unwrap_and_program() -> None:
    assert unwrap(["sudo", "-u", "root", "-E", "X=1", "pip3", "install", "x"]) == ("pip3", "install", "x")
    assert unwrap(["env", "-i", "A=1", "xargs", "-n", "1", "apt-get", "install"]) == ("apt-get", "install")
    assert unwrap(["timeout", "30", "nice", "-n", "5", "curl", "x"]) == ("curl", "x")
    assert unwrap(["gosu", "app", "run"]) == ("run",)
    assert unwrap(["busybox", "wget", "x"]) == ("wget", "x")
    assert unwrap(["command", "-v", "curl"]) == ("command", "-v", "curl")
    assert program(["/usr/bin/sudo", "/usr/local/bin/pip", "install"]) == "pip"
    assert program([]) == ""


def test_shell_script() -> None:
    assert shell_script(["bash", "-o", "pipefail", "-ec", "echo hi"]) == "echo hi"
    assert shell_script(["sudo", "sh", "-c", "x"]) == "x"
    assert shell_script(["su", "app", "-c", "make"]) == "make"
    assert shell_script(["bash", "script.sh"]) is None
    assert shell_script(["python3", "-c", "print(1)"]) is None
