// Package devstack runs apoyo's embedded local stack — a private PostgreSQL
// cluster, an in-process Temporal server (with its Web UI) and the sandbox
// bank — in one data directory, and lets other apoyo commands find it.
//
// `apoyo dev` and `apoyo demo` start it; every other command calls Resolve,
// which uses configured addresses when given and otherwise the running
// stack's (from DataDir/stack.json), so nobody types addresses by hand.
package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/config"
	"github.com/apoyo-cdmx/apoyo/platform/migrations"
	"github.com/apoyo-cdmx/apoyo/platform/pgcluster"
	"github.com/apoyo-cdmx/apoyo/platform/temporalcodec"
	"github.com/apoyo-cdmx/apoyo/platform/temporalserver"
)

// Info is what a running stack publishes in DataDir/stack.json.
type Info struct {
	PID             int    `json:"pid"`
	DatabaseURL     string `json:"database_url"`
	TemporalAddress string `json:"temporal_address"`
	Namespace       string `json:"namespace"`
	UIAddress       string `json:"ui_address,omitempty"`
	CodecURL        string `json:"codec_url,omitempty"`
	BankURL         string `json:"bank_url"`
	// APIURL is the HTTP API's base URL, once `apoyo dev` serves it.
	APIURL    string    `json:"api_url,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// SetAPIURL records where the stack's HTTP API listens, in stack.json.
func (s *Stack) SetAPIURL(url string) error {
	s.Info.APIURL = url
	return writeFileAtomic(filepath.Join(s.dataDir, "stack.json"), s.Info)
}

// Stack is a running local stack.
type Stack struct {
	Info     Info
	dataDir  string
	pg       *pgcluster.Cluster
	temporal *temporalserver.Server
	bank     *sandbox.Bank
	codec    *http.Server
	cancel   context.CancelFunc
	lock     *os.File
}

// Start brings up PostgreSQL (unless database.url is set), migrates it,
// starts the Temporal server and the sandbox bank, and writes stack.json.
// Only one stack runs per data directory.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (*Stack, error) {
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// When we run as root, the postgres user must be able to enter it.
	_ = os.Chmod(dir, 0o755)
	s := &Stack{dataDir: dir}
	if s.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	if _, err := EnsureKeys(dir); err != nil {
		return nil, err
	}

	dbURL := cfg.Database.URL
	if dbURL == "" {
		log.Info("starting PostgreSQL", "dir", filepath.Join(dir, "postgres"))
		s.pg, err = pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "postgres"), Port: cfg.Dev.PostgresPort,
			BinDir: cfg.Dev.PostgresBinDir, Durable: true})
		if err != nil {
			return nil, err
		}
		dbURL = s.pg.URL("apoyo")
	}
	from, to, err := migrations.MigrateURL(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	log.Info("database migrated", "from", from, "to", to)

	temporalAddr := cfg.Temporal.Address
	uiAddr, codecURL := "", ""
	if temporalAddr == "" {
		if cfg.Dev.UIPort != 0 {
			// apoyo encrypts every payload; a codec server on loopback
			// lets the local Web UI show them decoded.
			if codecURL, err = s.startCodecServer(cfg, fmt.Sprintf("http://127.0.0.1:%d", cfg.Dev.UIPort)); err != nil {
				return nil, err
			}
		}
		log.Info("starting Temporal server", "port", cfg.Dev.TemporalPort, "file", filepath.Join(dir, "temporal.db"))
		s.temporal, err = temporalserver.Start(ctx, temporalserver.Options{
			DatabaseFile: filepath.Join(dir, "temporal.db"), Port: cfg.Dev.TemporalPort,
			UIPort: cfg.Dev.UIPort, Namespace: cfg.Temporal.Namespace, CodecEndpoint: codecURL,
		})
		if err != nil {
			return nil, err
		}
		temporalAddr, uiAddr = s.temporal.Address(), s.temporal.UIAddress()
	}

	bankPort := cfg.Dev.BankPort
	portFile := filepath.Join(dir, "bank", "port")
	if bankPort == 0 {
		if b, err := os.ReadFile(portFile); err == nil {
			bankPort, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "bank"), 0o755); err != nil {
		return nil, err
	}
	s.bank, err = sandbox.Open(sandbox.Config{JournalPath: filepath.Join(dir, "bank", "journal.jsonl"), Logger: log.With("component", "sandbox-bank")})
	if err != nil {
		return nil, err
	}
	bctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.bank.Start(bctx)
	addr, err := s.bank.ListenAndServe(bctx, fmt.Sprintf("127.0.0.1:%d", bankPort))
	if err != nil && bankPort != 0 {
		// The remembered port was taken meanwhile: take any.
		addr, err = s.bank.ListenAndServe(bctx, "127.0.0.1:0")
	}
	if err != nil {
		return nil, err
	}
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		_ = os.WriteFile(portFile, []byte(addr[i+1:]+"\n"), 0o644)
	}

	s.Info = Info{PID: os.Getpid(), DatabaseURL: dbURL, TemporalAddress: temporalAddr, Namespace: cfg.Temporal.Namespace,
		UIAddress: uiAddr, CodecURL: codecURL, BankURL: "http://" + addr, StartedAt: time.Now().UTC()}
	if err := writeFileAtomic(filepath.Join(dir, "stack.json"), s.Info); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// writeFileAtomic writes v as JSON to a side file renamed over path, so
// that other commands reading it never see half of it.
func writeFileAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Stop stops everything Start started, in reverse order.
func (s *Stack) Stop() {
	_ = os.Remove(filepath.Join(s.dataDir, "stack.json"))
	if s.cancel != nil {
		s.cancel()
	}
	if s.bank != nil {
		_ = s.bank.Close()
	}
	if s.codec != nil {
		_ = s.codec.Close()
	}
	if s.temporal != nil {
		_ = s.temporal.Stop()
	}
	if s.pg != nil {
		_ = s.pg.Stop()
	}
	if s.lock != nil {
		_ = syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
		_ = s.lock.Close()
	}
}

// lockDir takes an exclusive lock on the data directory so that two stacks
// never share one PostgreSQL cluster or Temporal file. The kernel drops it
// when the process dies, however it dies. Discover probes the same lock for
// an instant, so a taken lock is tried again for a moment before we
// conclude that another stack holds it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(lockProbeGrace)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another apoyo stack is running in %s (stop it, or use another --data-dir)", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockProbeGrace is how long lockDir retries a taken lock: far longer than
// Discover holds it.
const lockProbeGrace = 3 * time.Second

// stackLockHeld reports whether a stack process holds dir's lock (running,
// or still starting).
func stackLockHeld(dir string) (bool, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, nil
}

// Discover returns the running stack of dataDir, or nil when none runs.
// stack.json is believed only while its writer still holds the data
// directory's lock and lives: after a SIGKILL the file stays behind, and
// its pid may be a zombie or reused by another program.
func Discover(dataDir string) (*Info, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "stack.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dataDir, "stack.json"), err)
	}
	held, err := stackLockHeld(dataDir)
	if err != nil {
		return nil, err
	}
	// Held, but by a stack other than the file's writer: a new one is
	// starting and has not published itself yet.
	if !held || !processAlive(info.PID) {
		return nil, nil
	}
	return &info, nil
}

// processAlive reports whether pid is a live process (a zombie is not).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) // no procfs: kill(0) said alive
	}
	// The state letter follows the parenthesised command name.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}

// rememberedPort is the port recorded in file, or "0" (any).
func rememberedPort(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return "0"
	}
	if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && p < 65536 {
		return strconv.Itoa(p)
	}
	return "0"
}

// startCodecServer serves the payload codec on a loopback port for the
// local Web UI at uiOrigin, and returns its URL. It decodes for anyone who
// can reach loopback: a development convenience, never for production,
// where a codec server sits behind the operators' authentication.
func (s *Stack) startCodecServer(cfg config.Config, uiOrigin string) (string, error) {
	kr, _, err := Keyring(cfg)
	if err != nil {
		return "", err
	}
	// The port is remembered, like the bank's, so that a restart (also
	// after a crash) serves on the same one; taken meanwhile, any will do.
	portFile := filepath.Join(s.dataDir, "codec.port")
	l, err := net.Listen("tcp", "127.0.0.1:"+rememberedPort(portFile))
	if err != nil {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return "", err
	}
	_ = os.WriteFile(portFile, []byte(strconv.Itoa(l.Addr().(*net.TCPAddr).Port)+"\n"), 0o644)
	codec := temporalcodec.NewCodecHTTPHandler(kr)
	s.codec = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The browser calls the codec from the UI's origin.
		w.Header().Set("Access-Control-Allow-Origin", uiOrigin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		codec.ServeHTTP(w, r)
	})}
	go func() { _ = s.codec.Serve(l) }()
	return "http://" + l.Addr().String(), nil
}
