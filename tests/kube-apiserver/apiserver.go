package main

// The upstream kube-apiserver, run in this process the way
// k8s.io/kubernetes/cmd/kube-apiserver/app/testing/testserver.go does:
// the real option parsing, validation and server chain (aggregator ->
// kube-apiserver -> apiextensions), on a listener bound before start-up.

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/rest"
	basecompatibility "k8s.io/component-base/compatibility"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	kubeoptions "k8s.io/kubernetes/pkg/kubeapiserver/options"
)

// serviceCIDR holds every ClusterIP the simulator generates (172.20.k.k,
// the EKS default range; its kubernetes.default service is 172.20.0.1,
// which is this range's first address, so that fixture updates in
// place). A simulator with more than 65 536 services would spill into
// 172.21/16; the harness does not cover that.
const serviceCIDR = "172.20.0.0/16"

// firstServiceIP is the kubernetes.default service's ClusterIP.
var firstServiceIP = net.ParseIP("172.20.0.1")

// keptAdmissionPlugins are the only default-on admission plugins left on.
//
// Every other default-on plugin is disabled, so fixtures are stored as
// given and no plugin waits on a controller that does not run here. In
// v1.37.2 that is: LimitRanger, ServiceAccount (needs the SAs to exist,
// injects token volumes), DefaultStorageClass, PersistentVolumeClaimResize,
// DefaultTolerationSeconds, MutatingAdmissionWebhook,
// ValidatingAdmissionWebhook, ResourceQuota, StorageObjectInUseProtection
// (adds finalizers), PodGroupProtection, Priority (needs PriorityClasses,
// rewrites priority), TaintNodesByCondition (adds taints to new nodes),
// RuntimeClass, CertificateApproval, CertificateSigning,
// ClusterTrustBundleAttest, CertificateSubjectRestriction,
// DefaultIngressClass, PodSecurity, PodTopologyLabels,
// MutatingAdmissionPolicy, ValidatingAdmissionPolicy (fixture webhooks
// and policies must not judge later fixtures), NodeDeclaredFeatureValidator
// and PodResizeValidator. The list is computed from the upstream defaults,
// so a plugin that a newer version turns on by default is disabled too.
var keptAdmissionPlugins = []string{"NamespaceLifecycle"}

func disabledAdmissionPlugins() []string {
	defaultOn := sets.New(kubeoptions.AllOrderedPlugins...).Difference(kubeoptions.DefaultOffAdmissionPlugins())
	disabled := sets.List(defaultOn.Difference(sets.New(keptAdmissionPlugins...)))
	sort.Strings(disabled)
	return disabled
}

// apiserverSetup is what the harness prepared for kube-apiserver.
type apiserverSetup struct {
	dataDir     string
	port        int
	etcdURL     string
	pki         *pki
	tokenFile   string
	egressFile  string
	auditLog    string // empty: no audit backend
	auditPolicy string
}

// baseArgs are the harness's kube-apiserver flags; --apiserver-arg flags
// are parsed after them and so win.
func (a *apiserverSetup) baseArgs() []string {
	args := []string{
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", a.port),
		"--advertise-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(a.dataDir, "pki"),
		"--etcd-servers=" + a.etcdURL,
		"--tls-cert-file=" + a.pki.servingCertFile,
		"--tls-private-key-file=" + a.pki.servingKeyFile,
		"--client-ca-file=" + a.pki.clientCAFile,
		"--token-auth-file=" + a.tokenFile,
		"--authorization-mode=RBAC",
		"--enable-admission-plugins=" + strings.Join(keptAdmissionPlugins, ","),
		"--disable-admission-plugins=" + strings.Join(disabledAdmissionPlugins(), ","),
		"--service-account-key-file=" + a.pki.serviceAccountKeyFile,
		"--service-account-signing-key-file=" + a.pki.serviceAccountKeyFile,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--api-audiences=https://kubernetes.default.svc",
		"--service-cluster-ip-range=" + serviceCIDR,
		"--allow-privileged=true",
		// Bulk fixture loads and parallel tests must not be throttled.
		"--enable-priority-and-fairness=false",
		"--max-requests-inflight=4000",
		"--max-mutating-requests-inflight=2000",
		// The loopback advertise address is no endpoint to publish.
		"--endpoint-reconciler-type=none",
		// Fixture Events must outlive any test.
		"--event-ttl=24h",
		"--profiling=false",
		// The front proxy (aggregation layer).
		"--requestheader-client-ca-file=" + a.pki.frontProxyCAFile,
		"--requestheader-allowed-names=" + frontProxyClientName,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-uid-headers=X-Remote-Uid",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + a.pki.proxyClientCertFile,
		"--proxy-client-key-file=" + a.pki.proxyClientKeyFile,
		// Everything the server would dial in the "cluster" (aggregated
		// APIs, webhooks, kubelets) goes through the harness's egress
		// guard, which refuses every address off loopback.
		"--egress-selector-config-file=" + a.egressFile,
	}
	if a.auditLog != "" {
		args = append(args,
			"--audit-log-path="+a.auditLog,
			"--audit-policy-file="+a.auditPolicy,
			"--audit-log-format=json",
			"--audit-log-mode=blocking",
			"--audit-log-maxsize=0",
			"--audit-log-maxbackup=0",
		)
	}
	return args
}

// auditPolicy logs every request at Metadata level, once it has an answer.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  - level: Metadata
`

// flagError is a bad --apiserver-arg: the harness exits 2 for it.
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }

// startAPIServer parses the flags as kube-apiserver's own command does,
// completes and validates them and starts the server chain on ln. The
// returned channel yields the server's exit (nil after a clean shutdown
// once ctx is done).
func startAPIServer(ctx context.Context, ln net.Listener, setup *apiserverSetup, extra []string) (<-chan error, error) {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(setup.baseArgs()); err != nil {
		return nil, fmt.Errorf("internal flags: %w", err)
	}
	if err := fs.Parse(extra); err != nil {
		return nil, flagError{fmt.Errorf("--apiserver-arg: %w", err)}
	}
	if fs.NArg() > 0 {
		return nil, flagError{fmt.Errorf("--apiserver-arg: unexpected argument %q", fs.Arg(0))}
	}
	s.SecureServing.Listener = ln
	s.SecureServing.BindPort = setup.port

	registry := s.GenericServerRunOptions.ComponentGlobalsRegistry
	if err := registry.Set(); err != nil {
		return nil, flagError{fmt.Errorf("--apiserver-arg: %w", err)}
	}
	if err := logsapi.ValidateAndApply(s.Logs, registry.FeatureGateFor(basecompatibility.DefaultKubeComponent)); err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	// The server's loopback clients must not log self-issued warnings.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	completed, err := s.Complete(ctx)
	if err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return nil, fmt.Errorf("options: %w", utilerrors.NewAggregate(errs))
	}
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, completed)
	}()
	return done, nil
}

// egressConfig routes the "cluster" network through the harness's
// HTTP CONNECT guard on a unix socket.
func egressConfig(socket string) string {
	return fmt.Sprintf(`apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
  - name: cluster
    connection:
      proxyProtocol: HTTPConnect
      transport:
        uds:
          udsName: %s
`, socket)
}

// writeFile writes a file the harness owns (mode 0600).
func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o600)
}
