package serverproc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The child processes of these tests are this test binary itself, told by
// SERVERPROC_CHILD what to be: "serve" is a server that prints the line
// serve prints and answers /healthz, "ignore-term" the same but deaf to
// SIGTERM, "exit" one that exits at once.
func TestMain(m *testing.M) {
	switch os.Getenv("SERVERPROC_CHILD") {
	case "":
		os.Exit(m.Run())
	case "exit":
		fmt.Fprintln(os.Stderr, "child: refusing to start")
		os.Exit(3)
	case "ignore-term":
		child(true)
	default:
		child(false)
	}
}

// child serves /healthz until SIGTERM, or, deaf, until it is killed.
func child(deaf bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(2)
	}
	fmt.Printf("some other line\n%shttp://%s (role all)\n", ListenPrefix, ln.Addr())
	term := make(chan os.Signal, 1)
	if deaf {
		// Notify would undo Ignore: a deaf child only ignores.
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(term, syscall.SIGTERM)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	<-term
	os.Exit(0)
}

func start(t *testing.T, kind string) (*Process, *strings.Builder) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	p, err := Start(context.Background(), Config{Binary: exe, Env: append(os.Environ(), "SERVERPROC_CHILD="+kind),
		Stderr: &stderr, StartTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Start: %v (stderr %q)", err, stderr.String())
	}
	t.Cleanup(func() { p.Kill() })
	return p, &stderr
}

func TestStartStop(t *testing.T) {
	p, _ := start(t, "serve")
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want the address the child printed", p.URL)
	}
	resp, err := http.Get(p.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("second Stop: %v, want nil", err)
	}
}

func TestKill(t *testing.T) {
	p, _ := start(t, "serve")
	p.Kill()
	select {
	case <-p.Exited:
	default:
		t.Fatal("Exited not closed after Kill")
	}
	if ws, ok := p.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("process state %v, want killed by SIGKILL", p.Cmd.ProcessState)
	}
}

func TestStopKillsAfterTimeout(t *testing.T) {
	p, _ := start(t, "ignore-term")
	err := p.Stop(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Fatalf("Stop = %v, want an error saying it did not stop", err)
	}
	select {
	case <-p.Exited:
	default:
		t.Fatal("the process still runs after Stop")
	}
}

func TestRestart(t *testing.T) {
	p, _ := start(t, "serve")
	q, err := p.Restart(context.Background(), 10*time.Second)
	if err != nil {
		t.Fatalf("Restart: %v", err)
	}
	defer q.Kill()
	select {
	case <-p.Exited:
	default:
		t.Error("the first process runs on after Restart")
	}
	if q.Pid() == p.Pid() {
		t.Error("Restart returned the same process")
	}
	if _, err := http.Get(q.URL + "/healthz"); err != nil {
		t.Errorf("the restarted process does not answer: %v", err)
	}
}

func TestExitAtStart(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	_, err = Start(context.Background(), Config{Binary: exe, Env: append(os.Environ(), "SERVERPROC_CHILD=exit"), Stderr: &stderr})
	if err == nil || !strings.Contains(err.Error(), "exited at start") {
		t.Fatalf("Start = %v, want an error saying it exited at start", err)
	}
	if !strings.Contains(stderr.String(), "refusing to start") {
		t.Errorf("stderr = %q, want the child's message", stderr.String())
	}
}
