package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Superuser is the database superuser of every cluster (initdb -U postgres).
const Superuser = "postgres"

// stopTimeout bounds each stage of Stop: fast shutdown, then immediate, then
// SIGKILL.
const stopTimeout = 30 * time.Second

// Options tune Start.
type Options struct {
	// Command is the program that ends up running postgres, for example
	// {"sh", "/path/entrypoint.sh"}, which must exec postgres with the
	// arguments it is given. Empty means {"postgres", "-D", dataDir}.
	Command []string
	// Env holds extra environment entries ("KEY=value") for Command.
	Env []string
	// SocketDir holds the unix socket and the server log. Empty means the
	// parent directory of dataDir. It must be owned by the install's user.
	SocketDir string
}

// Server is a postmaster started by Start. Stop it with Stop.
type Server struct {
	// DataDir is the cluster's data directory.
	DataDir string
	// SocketDir holds the unix socket .s.PGSQL.<Port> and postgres.log.
	SocketDir string
	// Port is the loopback TCP port (and the socket's number).
	Port int

	in       *Install
	cmd      *exec.Cmd
	logPath  string
	done     chan struct{} // closed when the process has exited
	waitErr  error         // set before done is closed
	stopOnce sync.Once
	stopErr  error
}

// Start starts a server on the cluster in dataDir, listening on 127.0.0.1 at
// a free port and on a unix socket in opts.SocketDir, and returns without
// waiting for it to accept connections (see WaitReady). The listen options
// are appended to opts.Command as "-c" settings, so they override the
// cluster's postgresql.conf.
func (in *Install) Start(ctx context.Context, dataDir string, opts Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	sock := opts.SocketDir
	if sock == "" {
		sock = filepath.Dir(dataDir)
	}
	s := &Server{DataDir: dataDir, SocketDir: sock, Port: port, in: in,
		logPath: filepath.Join(sock, "postgres.log"), done: make(chan struct{})}

	argv := opts.Command
	if len(argv) == 0 {
		argv = []string{"postgres", "-D", dataDir}
	}
	argv = append(append([]string(nil), argv...),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+sock)

	logFile, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening server log %s: %w", s.logPath, err)
	}
	// The server outlives ctx on purpose: it runs until Stop.
	cmd := in.Command(context.WithoutCancel(ctx), opts.Env, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Should this process die without calling Stop, the kernel takes the
	// server down (SIGQUIT is PostgreSQL's immediate shutdown).
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s for %s: %w", argv[0], dataDir, err)
	}
	s.cmd = cmd
	go func() {
		s.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(s.done)
	}()
	return s, nil
}

// StartReady is Start followed by WaitReady; on failure it stops the server.
func (in *Install) StartReady(ctx context.Context, dataDir string, opts Options) (*Server, error) {
	s, err := in.Start(ctx, dataDir, opts)
	if err != nil {
		return nil, err
	}
	if err := s.WaitReady(ctx); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// PID returns the process ID of the postmaster (once Command has exec'd it).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// WaitReady polls pg_isready over TCP every 10 ms until the server accepts
// connections, the process exits or ctx ends.
func (s *Server) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		cmd := s.in.Command(ctx, nil, "pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-t", "1")
		if cmd.Run() == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("server for %s exited before it was ready (%w): %s", s.DataDir, s.waitErr, s.LogTail())
		case <-ctx.Done():
			return fmt.Errorf("waiting for server for %s: %w: %s", s.DataDir, ctx.Err(), s.LogTail())
		case <-tick.C:
		}
	}
}

// Stop stops the server by PID: SIGINT (fast shutdown), then SIGQUIT
// (immediate shutdown), then SIGKILL, waiting up to 30 s after each. It
// returns an error if the server did not exit cleanly after SIGINT. Later
// calls return the first result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL} {
			if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
				s.stopErr = fmt.Errorf("signalling server %d for %s: %w", s.PID(), s.DataDir, err)
			}
			select {
			case <-s.done:
				if sig != syscall.SIGINT {
					s.stopErr = fmt.Errorf("server %d for %s ignored SIGINT for %s; sent %v", s.PID(), s.DataDir, stopTimeout, sig)
				} else if s.waitErr != nil {
					s.stopErr = fmt.Errorf("server %d for %s: %w: %s", s.PID(), s.DataDir, s.waitErr, s.LogTail())
				}
				return
			case <-time.After(stopTimeout):
			}
		}
		s.stopErr = fmt.Errorf("server %d for %s survived SIGKILL", s.PID(), s.DataDir)
	})
	return s.stopErr
}

// Exited reports whether the server process has exited, and its wait error.
func (s *Server) Exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.waitErr
	default:
		return false, nil
	}
}

// SocketEnv returns libpq environment entries that connect to database db as
// the superuser over the unix socket (peer or trust authentication).
func (s *Server) SocketEnv(db string) []string {
	return []string{"PGHOST=" + s.SocketDir, "PGPORT=" + strconv.Itoa(s.Port), "PGUSER=" + Superuser, "PGDATABASE=" + db}
}

// TCPEnv returns libpq environment entries that connect to database db as
// the superuser over TCP on 127.0.0.1 with password.
func (s *Server) TCPEnv(db, password string) []string {
	return []string{"PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(s.Port), "PGUSER=" + Superuser,
		"PGDATABASE=" + db, "PGPASSWORD=" + password, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10"}
}

// Query runs sql with psql using the connection in env (see SocketEnv,
// TCPEnv) and returns the rows unaligned, one per line, fields joined by
// "|", with the trailing newline removed.
func (s *Server) Query(ctx context.Context, env []string, sql string) (string, error) {
	cmd := s.in.Command(ctx, env, "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("querying %s on port %d: %w: %s", firstLine(sql), s.Port, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSuffix(stdout.String(), "\n"), nil
}

// LogTail returns the last 2 KiB of the server log.
func (s *Server) LogTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(b)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return strconv.Quote(s)
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
