// kq-apiserver runs the real upstream kube-apiserver, with embedded etcd,
// in one process for kq's integration tests.
//
//	kq-apiserver --kubeconfig PATH [--data-dir DIR] [--fixtures FILE]...
//	    [--audit-log PATH] [--admin-addr-file PATH]
//	    [--apiserver-arg=--flag=value]...
//
// It starts etcd and kube-apiserver on loopback (ephemeral ports), creates
// namespace team-a with read access there for user kq-limited, loads the
// fixtures, then writes the admin endpoint's address and, last, the
// kubeconfig (contexts real-admin, real-limited, real-admin-cert). It
// prints nothing on success; a failure is one line on stderr and exit
// status 1 (2 for bad flags). SIGTERM, SIGINT or the death of its parent
// stop it, and it removes what it created.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"k8s.io/client-go/kubernetes"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type flags struct {
	kubeconfig    string
	dataDir       string
	fixtures      stringList
	auditLog      string
	adminAddrFile string
	apiserverArgs stringList
}

func parseFlags(args []string) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("kq-apiserver", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "where to write the kubeconfig (required)")
	fs.StringVar(&f.dataDir, "data-dir", "", "etcd data, certificates and the log (default: a fresh temp dir)")
	fs.Var(&f.fixtures, "fixtures", "a YAML or JSON fixture file to load (repeatable)")
	fs.StringVar(&f.auditLog, "audit-log", "", "write kube-apiserver's JSON audit log here")
	fs.StringVar(&f.adminAddrFile, "admin-addr-file", "", "write the admin endpoint's host:port here")
	fs.Var(&f.apiserverArgs, "apiserver-arg", "an extra kube-apiserver flag, --flag=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.kubeconfig == "" {
		return nil, errors.New("--kubeconfig is required")
	}
	for _, a := range f.apiserverArgs {
		if !strings.HasPrefix(a, "--") {
			return nil, fmt.Errorf("--apiserver-arg %q: want --flag=value", a)
		}
	}
	return f, nil
}

// harness is one run: what it started and what it must remove.
type harness struct {
	flags    *flags
	stderr   *os.File // the terminal's stderr, before the log took fd 2
	dataDir  string
	tempData bool // dataDir is ours: remove it whole
	logFile  string
	created  []string // paths to remove on exit, besides a temp dataDir
	cleanups []func() // in reverse order on exit
	// serverDone yields kube-apiserver's end once it runs.
	serverDone <-chan error
}

// failure is a fatal error with its exit status.
type failure struct {
	what   string
	err    error
	status int
}

func fail(what string, err error) *failure { return &failure{what: what, err: err, status: 1} }

func main() {
	// The tests start the harness as a child: it must die with them
	// (SIGTERM, handled as any other). A parent gone before the prctl
	// shows as a changed parent pid.
	parent := os.Getppid()
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGTERM), 0, 0, 0)
	if os.Getppid() != parent {
		os.Exit(1)
	}

	stampVersion()
	// A test server with memory to spare: collect garbage a quarter as
	// often (bulk fixture loads take a third less time), but harder as
	// the heap nears 8 GiB, unless GOGC or GOMEMLIMIT say otherwise.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(8 << 30)
	}
	f, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "kq-apiserver: bad flags: %v\n", err)
		os.Exit(2)
	}
	h := &harness{flags: f, stderr: os.Stderr}
	status := h.run()
	os.Exit(status)
}

// run is the harness's life; it returns the exit status.
func (h *harness) run() (status int) {
	// Signals stay caught until exit, so a second one cannot cut the
	// clean-up short.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		<-signals
		stop()
	}()

	failed := h.start(ctx)
	if failed == nil {
		// Serve until a signal or the server's own end.
		select {
		case <-ctx.Done():
		case err := <-h.serverDone:
			if err == nil {
				err = errors.New("it stopped by itself")
			}
			failed = fail("kube-apiserver", err)
		}
	}
	keepLog := failed != nil && ctx.Err() == nil
	h.cleanup(keepLog)
	if failed == nil || ctx.Err() != nil {
		// A signal during start-up is a requested stop, not a failure.
		return 0
	}
	line := fmt.Sprintf("kq-apiserver: %v", failed.err)
	if failed.what != "" {
		line = fmt.Sprintf("kq-apiserver: %s: %v", failed.what, failed.err)
	}
	if info, err := os.Stat(h.logFile); h.logFile != "" && failed.status == 1 && err == nil && info.Size() > 0 {
		line += fmt.Sprintf(" (log: %s)", h.logFile)
	} else {
		// Nothing worth reading was logged (a bad fixture file, a bad
		// flag): nothing to keep.
		h.cleanup(false)
	}
	fmt.Fprintln(h.stderr, strings.Join(strings.Fields(line), " "))
	return failed.status
}

func (h *harness) onExit(fn func()) { h.cleanups = append(h.cleanups, fn) }

// own records a path the harness created, to remove on exit.
func (h *harness) own(path string) { h.created = append(h.created, path) }

// cleanup stops what runs and removes what the harness created; it may
// run again (with keepLog false) to remove a kept log.
func (h *harness) cleanup(keepLog bool) {
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
	h.cleanups = nil
	for i := len(h.created) - 1; i >= 0; i-- {
		if keepLog && (h.created[i] == h.dataDir || strings.HasPrefix(h.dataDir, h.created[i]+string(filepath.Separator))) {
			continue
		}
		os.RemoveAll(h.created[i])
	}
	ownDataDir := h.tempData || slices.ContainsFunc(h.created, func(p string) bool {
		return p == h.dataDir || strings.HasPrefix(h.dataDir, p+string(filepath.Separator))
	})
	if !keepLog {
		if ownDataDir {
			os.RemoveAll(h.dataDir)
		} else if h.logFile != "" {
			os.Remove(h.logFile)
		}
		return
	}
	// A failed start keeps its log, and only its log, for the error line
	// to point at.
	if ownDataDir {
		entries, _ := os.ReadDir(h.dataDir)
		for _, e := range entries {
			if p := filepath.Join(h.dataDir, e.Name()); p != h.logFile {
				os.RemoveAll(p)
			}
		}
	}
}

// redirectOutput sends everything this process writes to fd 1 and 2
// (klog, etcd's and gRPC's loggers, the Go runtime) to the log file; the
// harness keeps a copy of the real stderr for its one error line.
func (h *harness) redirectOutput() error {
	log, err := os.OpenFile(h.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	saved, err := unix.Dup(2)
	if err != nil {
		return err
	}
	unix.CloseOnExec(saved)
	h.stderr = os.NewFile(uintptr(saved), "/dev/stderr")
	if err := unix.Dup2(int(log.Fd()), 1); err != nil {
		return err
	}
	return unix.Dup2(int(log.Fd()), 2)
}

// dataPath makes a path for a file or dir the harness creates in the data
// dir, and records it for removal.
func (h *harness) dataPath(name string) string {
	p := filepath.Join(h.dataDir, name)
	if !h.tempData {
		h.own(p)
	}
	return p
}

func (h *harness) start(ctx context.Context) *failure {
	f := h.flags
	if f.dataDir == "" {
		dir, err := os.MkdirTemp("", "kq-apiserver-")
		if err != nil {
			return fail("data dir", err)
		}
		h.dataDir, h.tempData = dir, true
	} else {
		abs, err := filepath.Abs(f.dataDir)
		if err != nil {
			return fail("data dir "+f.dataDir, err)
		}
		if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
			// Own the topmost directory that MkdirAll makes.
			top := abs
			for {
				parent := filepath.Dir(top)
				if _, err := os.Stat(parent); err == nil || parent == top {
					break
				}
				top = parent
			}
			if err := os.MkdirAll(abs, 0o700); err != nil {
				return fail("data dir "+abs, err)
			}
			h.own(top)
		}
		h.dataDir = abs
	}
	h.logFile = filepath.Join(h.dataDir, "kq-apiserver.log")
	if err := h.redirectOutput(); err != nil {
		h.logFile = ""
		return fail("log file "+filepath.Join(h.dataDir, "kq-apiserver.log"), err)
	}

	// Parse the fixtures first: a bad file fails before anything starts.
	fixtures, err := readFixtures(f.fixtures)
	if err != nil {
		return fail("", err)
	}

	h.dataPath("etcd")
	etcd, err := startEtcd(h.dataDir, h.logFile)
	if err != nil {
		return fail("start etcd", err)
	}
	h.onExit(etcd.close)

	// The egress guard's socket must fit a sockaddr_un (108 bytes).
	socket := h.dataPath("egress.sock")
	if len(socket) > 100 {
		dir, err := os.MkdirTemp("", "kq-egress-")
		if err != nil {
			return fail("egress socket", err)
		}
		h.own(dir)
		socket = filepath.Join(dir, "egress.sock")
	}
	guard, err := startEgressGuard(socket)
	if err != nil {
		return fail("egress guard "+socket, err)
	}
	h.onExit(guard.close)

	h.dataPath("pki")
	p, err := writePKI(h.dataDir, firstServiceIP)
	if err != nil {
		return fail("certificates", err)
	}
	creds, err := newCredentials()
	if err != nil {
		return fail("tokens", err)
	}
	setup := &apiserverSetup{
		dataDir:    h.dataDir,
		etcdURL:    etcd.clientURL,
		pki:        p,
		tokenFile:  h.dataPath("tokens.csv"),
		egressFile: h.dataPath("egress-selector.yaml"),
	}
	if err := writeFile(setup.tokenFile, creds.tokenFile()); err != nil {
		return fail("token file", err)
	}
	if err := writeFile(setup.egressFile, egressConfig(socket)); err != nil {
		return fail("egress selector config", err)
	}
	if f.auditLog != "" {
		setup.auditLog, _ = filepath.Abs(f.auditLog)
		h.own(setup.auditLog)
		setup.auditPolicy = h.dataPath("audit-policy.yaml")
		if err := writeFile(setup.auditPolicy, auditPolicy); err != nil {
			return fail("audit policy", err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("listen", err)
	}
	setup.port = ln.Addr().(*net.TCPAddr).Port

	serverCtx, stopServer := context.WithCancel(context.Background())
	done, err := startAPIServer(serverCtx, ln, setup, f.apiserverArgs)
	if err != nil {
		stopServer()
		ln.Close()
		var fe flagError
		if errors.As(err, &fe) {
			return &failure{what: "bad flags", err: err, status: 2}
		}
		return fail("start kube-apiserver", err)
	}
	// The server's end is watched by run(); the shutdown waits for it.
	exited := make(chan error, 1)
	watched := make(chan error, 1)
	go func() {
		err := <-done
		exited <- err
		watched <- err
	}()
	h.serverDone = watched
	h.onExit(func() {
		stopServer()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
		}
	})

	config := harnessClientConfig(setup.port, p, creds)
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fail("client", err)
	}
	if err := waitReady(ctx, client, watched); err != nil {
		return fail("kube-apiserver", err)
	}
	if err := createLimitedAccess(ctx, client); err != nil {
		return fail("set-up", err)
	}
	if len(fixtures) > 0 {
		l, err := newLoader(config)
		if err != nil {
			return fail("fixtures", err)
		}
		if err := l.load(ctx, fixtures); err != nil {
			return fail("", err)
		}
		// Give the parsed fixtures' memory back: tests run several
		// harnesses at once.
		fixtures, l = nil, nil
		debug.FreeOSMemory()
	}

	if f.adminAddrFile != "" {
		admin, err := startAdmin(etcd)
		if err != nil {
			return fail("admin endpoint", err)
		}
		h.onExit(admin.close)
		path, _ := filepath.Abs(f.adminAddrFile)
		if err := writeAtomically(path, []byte(admin.addr()+"\n")); err != nil {
			return fail("admin address file "+path, err)
		}
		h.own(path)
	}
	kubeconfigPath, _ := filepath.Abs(f.kubeconfig)
	if err := writeKubeconfig(kubeconfigPath, kubeconfig(setup.port, p, creds)); err != nil {
		return fail("kubeconfig "+kubeconfigPath, err)
	}
	h.own(kubeconfigPath)
	if ctx.Err() != nil {
		return fail("start", ctx.Err())
	}
	return nil
}
