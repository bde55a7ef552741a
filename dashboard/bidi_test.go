package dashboard_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A small WebDriver BiDi client, enough for TestFirefox: Firefox speaks
// the protocol itself (no geckodriver), over a WebSocket it opens when
// started with --remote-debugging-port. A command is a JSON object with
// an id; its answer carries the same id, as a result or an error; events
// carry a method and no id. See https://w3c.github.io/webdriver-bidi/.

const firefox = "/usr/bin/firefox-esr"

// firefoxPrefs keep the browser off the closed network and quiet: no
// updates, telemetry, safe-browsing lists, captive-portal probes or
// first-run pages; remote.prefs.recommended adds the remote agent's own
// list of such prefs.
var firefoxPrefs = map[string]any{
	"app.update.enabled":                              false,
	"app.update.auto":                                 false,
	"app.normandy.enabled":                            false,
	"browser.shell.checkDefaultBrowser":               false,
	"browser.startup.homepage_override.mstone":        "ignore",
	"browser.aboutwelcome.enabled":                    false,
	"browser.newtabpage.enabled":                      false,
	"browser.safebrowsing.malware.enabled":            false,
	"browser.safebrowsing.phishing.enabled":           false,
	"browser.safebrowsing.downloads.enabled":          false,
	"browser.safebrowsing.blockedURIs.enabled":        false,
	"browser.safebrowsing.provider.mozilla.updateURL": "",
	"datareporting.policy.dataSubmissionEnabled":      false,
	"datareporting.healthreport.uploadEnabled":        false,
	"toolkit.telemetry.enabled":                       false,
	"toolkit.telemetry.unified":                       false,
	"extensions.update.enabled":                       false,
	"messaging-system.rsexperimentloader.enabled":     false,
	"network.captive-portal-service.enabled":          false,
	"network.connectivity-service.enabled":            false,
	"remote.prefs.recommended":                        true,
}

// bidi is a connection to one Firefox: its process, its socket and the
// commands waiting for answers.
type bidi struct {
	t    *testing.T
	conn *websocket.Conn
	cmd  *exec.Cmd
	log  *lockedBuffer // Firefox's stderr, shown when the test fails

	mu      sync.Mutex
	nextID  int64
	waiting map[int64]chan bidiAnswer
	events  map[string]func(json.RawMessage)
	readErr error
	done    chan struct{} // closed when the read loop ends
}

type bidiAnswer struct {
	Type    string          `json:"type"` // success, error or event
	ID      *int64          `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   string          `json:"error"`
	Message string          `json:"message"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startFirefox starts Firefox headless with a fresh profile, connects to
// its BiDi socket and opens a session. The browser closes with the test.
func startFirefox(t *testing.T) *bidi {
	t.Helper()
	needBrowser(t, firefox, "firefox-esr")
	profile := t.TempDir()
	var prefs strings.Builder
	for name, v := range firefoxPrefs {
		js, _ := json.Marshal(v)
		fmt.Fprintf(&prefs, "user_pref(%q, %s);\n", name, js)
	}
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(prefs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(firefox, "--headless", "--no-remote", "--profile", profile, "--remote-debugging-port", "0")
	cmd.Env = append(os.Environ(), "MOZ_CRASHREPORTER_DISABLE=1", "MOZ_HEADLESS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its content processes go with it
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &bidi{t: t, cmd: cmd, log: &lockedBuffer{}, waiting: map[int64]chan bidiAnswer{},
		events: map[string]func(json.RawMessage){}, done: make(chan struct{})}
	cmd.Stdout = b.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", firefox, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { b.close(exited) })

	// The port is in the line "WebDriver BiDi listening on ws://…"; the
	// rest of stderr is kept for a failure's message.
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if addr, ok := strings.CutPrefix(line, "WebDriver BiDi listening on "); ok {
				select {
				case found <- strings.TrimSpace(addr):
				default:
				}
			}
			fmt.Fprintln(b.log, line)
		}
		io.Copy(b.log, stderr)
	}()
	var addr string
	select {
	case addr = <-found:
	case <-exited:
		t.Fatalf("%s exited before listening: %v\n%s", firefox, cmd.ProcessState, b.log)
	case <-time.After(time.Minute):
		t.Fatalf("%s did not report its BiDi address within a minute:\n%s", firefox, b.log)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b.conn, _, err = websocket.Dial(ctx, addr+"/session", nil)
	if err != nil {
		t.Fatalf("connect to Firefox at %s/session: %v", addr, err)
	}
	b.conn.SetReadLimit(64 << 20) // full-page screenshots
	go b.readLoop()
	b.call("session.new", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"acceptInsecureCerts":     true,
		"unhandledPromptBehavior": map[string]any{"default": "ignore"},
	}}}, nil)
	return b
}

func (b *bidi) close(exited chan struct{}) {
	if b.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b.send(ctx, "browser.close", map[string]any{}) // the answer may not come: Firefox is closing
		cancel()
	}
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	if b.conn != nil {
		b.conn.CloseNow()
		<-b.done
	}
	if b.t.Failed() {
		b.t.Logf("Firefox's output:\n%s", b.log)
	}
}

func (b *bidi) readLoop() {
	defer close(b.done)
	for {
		_, data, err := b.conn.Read(context.Background())
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var a bidiAnswer
		if err := json.Unmarshal(data, &a); err != nil {
			b.t.Errorf("Firefox sent what is not JSON: %v: %.200s", err, data)
			continue
		}
		b.mu.Lock()
		var handler func(json.RawMessage)
		if a.ID != nil {
			if ch, ok := b.waiting[*a.ID]; ok {
				delete(b.waiting, *a.ID)
				ch <- a
			}
		} else if a.Type == "event" {
			handler = b.events[a.Method]
		}
		b.mu.Unlock()
		if handler != nil {
			handler(a.Params)
		}
	}
}

// send sends a command and waits for its answer.
func (b *bidi) send(ctx context.Context, method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return nil, b.readErr
	}
	b.nextID++
	id := b.nextID
	ch := make(chan bidiAnswer, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	if err := b.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, err
	}
	select {
	case a, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("connection closed: %w", b.readErr)
		}
		if a.Type == "error" {
			return nil, fmt.Errorf("%s: %s", a.Error, a.Message)
		}
		return a.Result, nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
		return nil, ctx.Err()
	}
}

// call sends a command, fails the test on an error, and decodes the
// result into out (unless nil).
func (b *bidi) call(method string, params any, out any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	res, err := b.send(ctx, method, params)
	if err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			b.t.Fatalf("%s: decode %.200s: %v", method, res, err)
		}
	}
}

// on calls f for each event named method, having subscribed to it. f
// runs on the read loop, before any later message is read (so an event
// is counted before the answer of a command that follows it): it must
// not wait for an answer itself, but start a goroutine to.
func (b *bidi) on(method string, f func(json.RawMessage)) {
	b.t.Helper()
	b.mu.Lock()
	b.events[method] = f
	b.mu.Unlock()
	b.call("session.subscribe", map[string]any{"events": []string{method}}, nil)
}

// errScript is a script's exception: the page ran, the expression threw.
var errScript = errors.New("the script threw")

// evaluate runs expr in the page of context ctxID (awaiting a promise)
// and decodes its value, passed through JSON.stringify, into out.
func (b *bidi) evaluate(ctx context.Context, ctxID, expr string, out any) error {
	res, err := b.send(ctx, "script.evaluate", map[string]any{
		"expression":   "(async () => JSON.stringify(await (" + expr + ")))()",
		"target":       map[string]any{"context": ctxID},
		"awaitPromise": true,
	})
	if err != nil {
		return err
	}
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value any    `json:"value"`
		} `json:"result"`
		ExceptionDetails struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if r.Type == "exception" {
		return fmt.Errorf("%w: %s", errScript, r.ExceptionDetails.Text)
	}
	s, ok := r.Result.Value.(string)
	if r.Result.Type != "string" || !ok {
		return fmt.Errorf("the expression's value is %s, not JSON", r.Result.Type)
	}
	return json.Unmarshal([]byte(s), out)
}
