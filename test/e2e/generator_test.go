//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// generatorAddr is where the generator under test listens: in the harness's 27xxx port block
// (shifted by the stack's port offset; set by TestMain).
var generatorAddr = "127.0.0.1:27355"

// localPort is 127.0.0.1 and port shifted by the stack's port offset.
func localPort(port int) string { return fmt.Sprintf("127.0.0.1:%d", port+st.portOffset) }

var (
	buildGeneratorOnce sync.Once
	generatorBin       string
	buildGeneratorErr  error
)

// buildGenerator builds ./cmd/generator once per test binary into the stack's folder; a failed
// build fails every test that needs the generator.
func buildGenerator(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	buildGeneratorOnce.Do(func() {
		generatorBin = filepath.Join(st.dir, "bin", "generator")
		cmd := exec.Command("go", "build", "-o", generatorBin, "./cmd/generator")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildGeneratorErr = fmt.Errorf("go build ./cmd/generator: %w\n%s", err, out)
		}
	})
	if buildGeneratorErr != nil {
		t.Fatal(buildGeneratorErr)
	}
	return generatorBin
}

// generatorProc is the real generator binary run as a child process, logging to
// logs/<name>.log and recording its pid in run/<name>.pid (so hack/e2e/down.sh stops a
// leftover one). name is "generator" unless a test runs several.
type generatorProc struct {
	bin  string
	args []string
	name string   // log and pid file name
	addr string   // the --listen address, awaited at start
	env  []string // extra environment, NAME=value
	cmd  *exec.Cmd
	done chan struct{}
}

func startGenerator(t *testing.T, args ...string) *generatorProc {
	t.Helper()
	return startGeneratorAs(t, "generator", generatorAddr, nil, args...)
}

// startGeneratorAs starts a generator named name (its log and pid files) that listens on addr
// (args must say --listen addr) with env added to the test's environment.
func startGeneratorAs(t *testing.T, name, addr string, env []string, args ...string) *generatorProc {
	t.Helper()
	g := &generatorProc{bin: buildGenerator(t), args: args, name: name, addr: addr, env: env}
	g.start(t)
	t.Cleanup(func() { g.stop(t) })
	return g
}

func (g *generatorProc) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(st.logs, g.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("opening the generator log: %v", err)
	}
	fmt.Fprintf(logf, "=== %s start: %s %s\n", time.Now().UTC().Format(time.RFC3339), g.bin, strings.Join(g.args, " "))
	g.cmd = exec.Command(g.bin, g.args...)
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	g.cmd.Env = append(append(os.Environ(), "GOTRACEBACK=all"), g.env...)
	if err := g.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting the generator: %v", err)
	}
	pidFile := filepath.Join(st.run, g.name+".pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(g.cmd.Process.Pid)+"\ngenerator\n"), 0o644); err != nil {
		t.Fatalf("recording the generator pid: %v", err)
	}
	g.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}(g.cmd, g.done)
	eventually(t, 30*time.Second, g.name+" listening on "+g.addr, func(ctx context.Context) error {
		select {
		case <-g.done:
			return fmt.Errorf("the generator exited: %s", g.cmd.ProcessState)
		default:
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", g.addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// stop sends SIGTERM and waits up to 15 s before killing; it is a no-op once stopped.
func (g *generatorProc) stop(t *testing.T) {
	t.Helper()
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	select {
	case <-g.done:
	default:
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.done:
		case <-time.After(15 * time.Second):
			t.Errorf("the generator did not stop within 15s of SIGTERM; killing it")
			_ = g.cmd.Process.Kill()
			<-g.done
		}
	}
	_ = os.Remove(filepath.Join(st.run, g.name+".pid"))
	g.cmd = nil
}

func (g *generatorProc) restart(t *testing.T) {
	t.Helper()
	g.stop(t)
	g.start(t)
}
