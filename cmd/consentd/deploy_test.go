package main

import (
	"context"
	"debug/elf"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the uid and gid the static binary runs as when the tests run
// as root (as in CI).
const nobody = 65534

// TestStaticBinaryRunsAsNobody builds consentd with CGO_ENABLED=0 (the
// README's build line), checks the ELF file asks for no interpreter and no
// shared library, copies it alone into an empty folder and runs it there
// as nobody: serve answers /readyz with 200, `consentd healthcheck` agrees,
// and SIGTERM stops it with 0.
func TestStaticBinaryRunsAsNobody(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the static binary and runs it (skipped under -short)")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build consentd: %v", err)
	}
	built := filepath.Join(t.TempDir(), "consentd")
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute) // a cold build on a busy machine
	defer cancel()
	build := exec.CommandContext(ctx, gobin, "build", "-o", built, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}

	f, err := elf.Open(built)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %v program header: it is dynamically linked", p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v); want none", libs, err)
	}
	f.Close()

	// An empty folder of its own (t.TempDir's parent is root's, mode
	// 0700), owned by the user the binary runs as.
	dir, err := os.MkdirTemp("", "consentd-static-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "consentd")
	copyFile(t, built, bin, 0o755)
	var cred *syscall.Credential
	if os.Getuid() == 0 {
		if err := os.Chown(dir, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		cred = &syscall.Credential{Uid: nobody, Gid: nobody, NoSetGroups: true}
	} else {
		t.Logf("not root: the binary runs as uid %d, not as nobody", os.Getuid())
	}
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/nonexistent"} // nothing from this environment
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd
	}

	srv := &crashServer{stderr: &listenWatcher{addr: make(chan string, 1)}, exited: make(chan struct{})}
	srv.cmd = run("serve", "--data", filepath.Join(dir, "data"), "--addr", "127.0.0.1:0")
	srv.cmd.Stdout = io.Discard
	srv.cmd.Stderr = srv.stderr
	if err := srv.cmd.Start(); err != nil {
		t.Fatalf("starting the static binary: %v", err)
	}
	go func() { srv.err = srv.cmd.Wait(); close(srv.exited) }()
	t.Cleanup(func() {
		select {
		case <-srv.exited:
		default:
			srv.cmd.Process.Kill()
			<-srv.exited
		}
	})
	select {
	case srv.base = <-srv.stderr.addr:
	case <-srv.exited:
		t.Fatalf("the static binary exited (%v) before listening; stderr:\n%s", srv.err, srv.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the static binary did not listen within 30s; stderr:\n%s", srv.stderr.String())
	}

	res, err := ledgerTestClient.Get(srv.base + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz = %d %s; want 200", res.StatusCode, body)
	}
	hc := run("healthcheck", "--url", srv.base+"/readyz")
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("consentd healthcheck = %v, %s; want exit 0", err, out)
	}
	if cred != nil {
		st, err := os.Stat(filepath.Join(dir, "data", "consentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || sys.Uid != nobody {
			t.Errorf("consentd.db is owned by %v; want nobody (%d)", st.Sys(), nobody)
		}
	}
	if code := srv.terminate(t); code != 0 {
		t.Errorf("the static binary exited with %d after SIGTERM; want 0; stderr:\n%s", code, srv.stderr.String())
	}
	hc = run("healthcheck", "--url", srv.base+"/readyz", "--timeout", "2s")
	if err := hc.Run(); hc.ProcessState == nil || hc.ProcessState.ExitCode() != 1 {
		t.Errorf("consentd healthcheck of a stopped server = %v; want exit 1", err)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// TestSystemdUnit checks deploy/consentd.service with systemd-analyze:
// `verify` (syntax, known settings) and `security --offline` (the
// hardening scores an exposure of at most 2.5 of 10). verify wants the
// ExecStart binary to exist, so it checks a copy of the unit naming the
// test binary instead of /usr/local/bin/consentd.
func TestSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: deploy/consentd.service is not checked")
	}
	unit, err := os.ReadFile("../../deploy/consentd.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/consentd serve") {
		t.Fatalf("deploy/consentd.service does not start /usr/local/bin/consentd serve")
	}
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service", "StateDirectory=consentd", "DynamicUser=yes"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("deploy/consentd.service lacks %q", strings.TrimSpace(want))
		}
	}
	path := filepath.Join(t.TempDir(), "consentd.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/consentd", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, sa, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify deploy/consentd.service: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(ctx, sa, "security", "--offline=yes", "--threshold=25", path).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "unrecognized option") {
			t.Logf("this systemd-analyze has no security --offline: the exposure is not checked")
			return
		}
		t.Errorf("systemd-analyze security --offline=yes --threshold=25: %v\n%s", err, out)
	}
	if i := strings.LastIndex(string(out), "Overall exposure"); i >= 0 {
		t.Log(strings.TrimSpace(string(out[i:])))
	}
}

// TestDockerfile checks what deploy/Dockerfile promises without building
// it (no Docker engine runs where the tests run): a static build, a
// non-root distroless final stage, the data volume, and a health check by
// the binary itself, whose command exists.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		"RUN CGO_ENABLED=0 go build",
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		`VOLUME ["/data"]`,
		"EXPOSE 8080",
		`CMD ["/usr/local/bin/consentd", "healthcheck"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("deploy/Dockerfile lacks %q", want)
		}
	}
	if strings.Count(df, "\nFROM ") != 2 || !strings.HasPrefix(df[strings.Index(df, "\nFROM ")+1:], "FROM golang:") {
		t.Errorf("deploy/Dockerfile: want two stages, a golang build stage and the final one")
	}
	// The health check's command answers 1, not 2 (usage), when nothing
	// listens: the image's CONSENTD_ADDR with nothing on it.
	if code, _, stderr := runMain(t, "healthcheck", "--addr", "0.0.0.0:1", "--timeout", "2s"); code != 1 {
		t.Errorf("healthcheck with nothing listening = %d, %q; want 1", code, stderr)
	}
}
