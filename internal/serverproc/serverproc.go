// Package serverproc runs a bulkid server as a child process on loopback:
// it builds the binary, starts it, takes its address from the line it
// prints, waits for GET /healthz to answer 200, and stops it with SIGTERM
// or kills it with SIGKILL. The black-box tests of cmd/bulkid and
// "bulkid bench" both start their servers through it.
package serverproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ListenPrefix starts the line "bulkid serve" prints once it listens,
// followed by its URL.
const ListenPrefix = "bulkid listening on "

// Build builds the package pkg (a path or import path, as go build takes
// it) into the file out, with extra go build flags (such as -race).
func Build(out, pkg string, flags ...string) error {
	args := append(append([]string{"build", "-o", out}, flags...), pkg)
	if b, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// Config says how to start a process.
type Config struct {
	// Binary is the program to run; Args its arguments, such as
	// serve --addr 127.0.0.1:0 --data-dir DIR.
	Binary string
	Args   []string
	// Env is the child's whole environment; nil inherits this process's.
	Env []string
	// ListenPrefix starts the stdout line that gives the address, the next
	// word after it (default: ListenPrefix, what serve prints).
	ListenPrefix string
	// Stderr receives the child's standard error (default: discarded).
	Stderr io.Writer
	// StartTimeout bounds the wait for the address line, and again the
	// wait for /healthz (default 30 s).
	StartTimeout time.Duration
	// PollInterval is the time between two GET /healthz (default 20 ms).
	PollInterval time.Duration
	// Client sends GET /healthz (default: http.DefaultClient).
	Client *http.Client
}

// Process is a started child process that serves HTTP.
type Process struct {
	// Cmd is the command; its ProcessState is set once Exited is closed.
	Cmd *exec.Cmd
	// URL is the base URL the process printed, such as http://127.0.0.1:4242.
	URL string
	// Exited is closed once the process has exited and been waited for.
	Exited <-chan struct{}

	cfg  Config
	once sync.Once
}

// Start starts the process and returns once GET /healthz answers 200. When
// the process does not get there, Start stops it and returns an error with
// what went wrong; the child's standard error went to cfg.Stderr.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	if cfg.ListenPrefix == "" {
		cfg.ListenPrefix = ListenPrefix
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	cmd := exec.Command(cfg.Binary, cfg.Args...)
	cmd.Env = cfg.Env
	addr := make(chan string, 1)
	cmd.Stdout = &lineWriter{fn: func(line string) {
		if rest, ok := strings.CutPrefix(line, cfg.ListenPrefix); ok && rest != "" {
			select {
			case addr <- strings.Fields(rest)[0]:
			default:
			}
		}
	}}
	cmd.Stderr = cfg.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	p := &Process{Cmd: cmd, Exited: exited, cfg: cfg}
	go func() { cmd.Wait(); close(exited) }()
	select {
	case p.URL = <-addr:
	case <-exited:
		return nil, errors.New("exited at start")
	case <-time.After(cfg.StartTimeout):
		p.Stop(cfg.StartTimeout)
		return nil, fmt.Errorf("printed no %q line within %s", cfg.ListenPrefix, cfg.StartTimeout)
	case <-ctx.Done():
		p.Stop(cfg.StartTimeout)
		return nil, ctx.Err()
	}
	for deadline := time.Now().Add(cfg.StartTimeout); ; time.Sleep(cfg.PollInterval) {
		status, err := p.health(ctx)
		if err == nil && status == http.StatusOK {
			return p, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.Stop(cfg.StartTimeout)
			return nil, fmt.Errorf("GET /healthz = %d, %v after %s", status, err, cfg.StartTimeout)
		}
	}
}

func (p *Process) health(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", p.URL+"/healthz", nil)
	if err != nil {
		return 0, err
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Stop ends the process with SIGTERM and waits for it to exit; after
// timeout it kills it and returns an error saying so. Stopping a process
// that has exited, or stopping it again, does nothing and returns nil.
func (p *Process) Stop(timeout time.Duration) error {
	var err error
	p.once.Do(func() {
		select {
		case <-p.Exited:
			return
		default:
		}
		p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.Exited:
		case <-time.After(timeout):
			p.Cmd.Process.Kill()
			<-p.Exited
			err = fmt.Errorf("did not stop within %s of SIGTERM", timeout)
		}
	})
	return err
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	p.Cmd.Process.Kill()
	<-p.Exited
}

// Restart stops the process (SIGTERM, as Stop) and starts it again with
// the same configuration. The new process listens where it chooses to, so
// its URL may differ.
func (p *Process) Restart(ctx context.Context, timeout time.Duration) (*Process, error) {
	if err := p.Stop(timeout); err != nil {
		return nil, err
	}
	return Start(ctx, p.cfg)
}

// lineWriter calls fn with each line written to it.
type lineWriter struct {
	fn  func(string)
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.fn(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}
