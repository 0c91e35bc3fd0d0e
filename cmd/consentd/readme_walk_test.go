package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeSkipped are the README commands the walk-through test does not run,
// each with the reason.
var readmeSkipped = map[string]string{
	"./test.sh": "runs the whole test suite, this test among it",
}

// readmeCommand is one shell command of a README block and the "# ->"
// lines that follow it.
type readmeCommand struct {
	text   string
	expect []string
}

// readmeCommands splits a README shell block into commands: a command
// goes on while its single quotes are open or its line ends in \ or |.
// Comment lines between commands are dropped, except "# ->" lines, which
// are what the command before them answers.
func readmeCommands(block string) []readmeCommand {
	var cmds []readmeCommand
	var cur []string
	for _, line := range strings.Split(block, "\n") {
		trimmed := strings.TrimSpace(line)
		if len(cur) == 0 {
			if exp, ok := strings.CutPrefix(trimmed, "# ->"); ok && len(cmds) > 0 {
				cmds[len(cmds)-1].expect = append(cmds[len(cmds)-1].expect, strings.TrimSpace(exp))
				continue
			}
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
		}
		cur = append(cur, line)
		joined := strings.Join(cur, "\n")
		if strings.Count(joined, "'")%2 == 1 || strings.HasSuffix(trimmed, `\`) || strings.HasSuffix(trimmed, "|") {
			continue
		}
		cmds = append(cmds, readmeCommand{text: joined})
		cur = nil
	}
	return cmds
}

// readmeSection returns the README's text from the heading to the next
// "## " heading.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q", heading)
	}
	s = s[i+len(heading)+1:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}

// shBlocks returns the ```sh blocks of a README section, in order.
func shBlocks(section string) []string {
	var out []string
	for {
		i := strings.Index(section, "```sh\n")
		if i < 0 {
			return out
		}
		section = section[i+len("```sh\n"):]
		j := strings.Index(section, "```")
		out = append(out, section[:j])
		section = section[j+3:]
	}
}

// expectRE turns a "# ->" line into a regular expression: "..." (with the
// commas and spaces around it) and <placeholders> match anything; prose
// after the last } is dropped; a leading three-digit number is the status.
func expectRE(exp string) (status int, re *regexp.Regexp) {
	if len(exp) > 4 && exp[3] == ' ' {
		if n, err := strconv.Atoi(exp[:3]); err == nil {
			status, exp = n, exp[4:]
		}
	}
	if i := strings.LastIndex(exp, "}"); i >= 0 {
		exp = exp[:i+1]
	}
	wild := regexp.MustCompile(`,?\s*\.\.\.\s*,?\s*|<[a-z][a-z0-9 +]*>`)
	var b strings.Builder
	last := 0
	for _, m := range wild.FindAllStringIndex(exp, -1) {
		b.WriteString(regexp.QuoteMeta(exp[last:m[0]]))
		b.WriteString(".*?")
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(exp[last:]))
	return status, regexp.MustCompile(b.String())
}

// readmeEnv is the environment the README's commands run in: the test's
// PATH with the go shim first, HOME and CURL_HOME in dir (curl reads the
// .curlrc there), and no CONSENTD_* variable of the test's own.
func readmeEnv(dir, shims, addr string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "CONSENTD_"), k == "PATH", k == "HOME", k == "CURL_HOME", k == "XDG_CONFIG_HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+shims+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+dir, "CURL_HOME="+dir,
		"CONSENTD_ADDR="+addr)
}

// TestReadmeWalkThrough does what a new user does: the README's first
// block (serve, stopped with Ctrl-C before the walk-through), then every
// ```sh block of "A walk through with curl", copied as written, run by
// bash one after another in one shell, in an empty folder.
//
// What stands in for the user's machine: `go` on PATH is a shim that runs
// a consentd built once by the test for `go run ./cmd/consentd ...` and
// refuses anything else; the README's localhost:8080 and 127.0.0.1:8080 are
// rewritten to a free loopback port, which CONSENTD_ADDR gives the
// servers; curl gets a .curlrc that adds the HTTP status of each answer on
// stderr. Each command must exit 0; each answer must be 2xx, or the status
// its "# ->" line names; each "# ->" line must match the answer.
func TestReadmeWalkThrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this machine: %v", tool, err)
		}
	}
	bin := buildConsentd(t)
	dir := t.TempDir()
	shims := filepath.Join(dir, ".shims")
	if err := os.Mkdir(shims, 0o755); err != nil {
		t.Fatal(err)
	}
	shim := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = run ] && [ \"$2\" = ./cmd/consentd ]; then shift 2; exec %q \"$@\"; fi\n"+
		"echo \"go shim: only 'go run ./cmd/consentd' is available in this test\" >&2\nexit 127\n", bin)
	if err := os.WriteFile(filepath.Join(shims, "go"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".curlrc"), []byte("write-out = \"%{stderr}@@http %{http_code}\\n\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rewrite := strings.NewReplacer("localhost:8080", addr, "127.0.0.1:8080", addr).Replace
	env := readmeEnv(dir, shims, addr)

	// The README's two commands: the first serve runs until Ctrl-C.
	top := readmeCommands(readmeBlock(t, "# consentd\n", "sh"))
	if len(top) != 2 || !strings.HasPrefix(top[0].text, "go run ./cmd/consentd serve") {
		t.Fatalf("the README's first block is no longer serve and test.sh: %q", top)
	}
	for _, c := range top[1:] {
		why, ok := readmeSkipped[strings.Fields(c.text)[0]]
		if !ok {
			t.Fatalf("the README's first block has a command this test neither runs nor skips: %q", c.text)
		}
		t.Logf("skipped: %s (%s)", c.text, why)
	}
	runUntilListening(t, dir, env, rewrite(top[0].text))
	if _, err := os.Stat(filepath.Join(dir, "consentd-data", "consentd.db")); err != nil {
		t.Fatalf("the first serve made no ./consentd-data: %v", err)
	}

	// The walk-through, block after block, in one shell.
	var cmds []readmeCommand
	for _, b := range shBlocks(readmeSection(t, "## A walk through with curl")) {
		cmds = append(cmds, readmeCommands(b)...)
	}
	if len(cmds) < 10 {
		t.Fatalf("found %d commands in the walk-through; the README's blocks changed shape?", len(cmds))
	}
	var script strings.Builder
	for i, c := range cmds {
		if why, ok := readmeSkipped[strings.Fields(c.text)[0]]; ok {
			t.Logf("skipped: %s (%s)", c.text, why)
			continue
		}
		fmt.Fprintf(&script, "{ %s\n} >.out.%d 2>.err.%d; echo $? >.rc.%d\n", rewrite(c.text), i, i, i)
	}
	script.WriteString("kill $(jobs -p) 2>/dev/null; wait\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("bash: %v\n%s", err, out.String())
	}

	statusRE := regexp.MustCompile(`@@http (\d{3})`)
	for i, c := range cmds {
		if _, ok := readmeSkipped[strings.Fields(c.text)[0]]; ok {
			continue
		}
		read := func(name string) string {
			b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf(".%s.%d", name, i)))
			if err != nil {
				t.Fatalf("command %q did not run (%v); bash said:\n%s", c.text, err, out.String())
			}
			return string(b)
		}
		rc, stdout, stderr := strings.TrimSpace(read("rc")), read("out"), read("err")
		if rc != "0" {
			t.Errorf("README command exited %s:\n%s\nstdout: %s\nstderr: %s", rc, c.text, stdout, stderr)
			continue
		}
		want := 0
		var res []*regexp.Regexp
		for _, e := range c.expect {
			st, re := expectRE(rewrite(e))
			if st != 0 {
				want = st
			}
			res = append(res, re)
		}
		for _, m := range statusRE.FindAllStringSubmatch(stderr, -1) {
			code, _ := strconv.Atoi(m[1])
			switch {
			case code == 0 && strings.HasPrefix(c.text, "until "): // the wait for the server
			case want != 0 && code == want:
			case want == 0 && code/100 == 2:
			default:
				t.Errorf("README command answered %d:\n%s\nbody: %s", code, c.text, stdout)
			}
		}
		for _, re := range res {
			if !re.MatchString(stdout) {
				t.Errorf("README command's answer does not match its # -> line:\n%s\nwant (as a pattern): %s\ngot: %s", c.text, re, stdout)
			}
		}
		if strings.Contains(c.text, "serve &") && strings.Contains(stderr, "warning") {
			t.Errorf("the walk-through's serve warns:\n%s", stderr)
		}
	}
}

// runUntilListening runs a README command that starts a server in the
// foreground, and stops it as a user does, with Ctrl-C (SIGINT), once it
// listens; it must then exit 0.
func runUntilListening(t *testing.T, dir string, env []string, line string) {
	t.Helper()
	cmd := exec.Command("bash", "-c", line)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w := &listenWatcher{addr: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = &lockedBuffer{}, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	select {
	case <-w.addr:
	case err := <-exited:
		t.Fatalf("%s: exited (%v) before listening:\n%s", line, err, w.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: not listening after 60s:\n%s", line, w.String())
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("%s: Ctrl-C: %v\n%s", line, err, w.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: still running 30s after Ctrl-C", line)
	}
}
