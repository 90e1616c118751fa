package main

// The kubeconfig the tests use, and the harness's own client config.

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// credentials are the run's random tokens.
type credentials struct {
	adminToken   string // user kq-admin, group system:masters
	limitedToken string // user kq-limited, no extra groups
}

func newCredentials() (*credentials, error) {
	admin, err := randomToken()
	if err != nil {
		return nil, err
	}
	limited, err := randomToken()
	if err != nil {
		return nil, err
	}
	return &credentials{adminToken: admin, limitedToken: limited}, nil
}

// tokenFile is the --token-auth-file CSV: token,user,uid[,"groups"].
func (c *credentials) tokenFile() string {
	return fmt.Sprintf("%s,kq-admin,kq-admin,\"system:masters\"\n%s,kq-limited,kq-limited\n",
		c.adminToken, c.limitedToken)
}

func serverURL(port int) string {
	return fmt.Sprintf("https://127.0.0.1:%d", port)
}

// harnessClientConfig is kq-admin's client for set-up and fixture loads:
// no client-side rate limit.
func harnessClientConfig(port int, p *pki, creds *credentials) *rest.Config {
	return &rest.Config{
		Host:            serverURL(port),
		BearerToken:     creds.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.servingCAPEM},
		UserAgent:       "kq-apiserver-harness",
		QPS:             100000,
		Burst:           100000,
	}
}

// kubeconfig has contexts real-admin (current), real-limited (namespace
// team-a) and real-admin-cert, all on cluster "real".
func kubeconfig(port int, p *pki, creds *credentials) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = serverURL(port)
	cluster.CertificateAuthorityData = p.servingCAPEM
	cfg.Clusters["real"] = cluster

	admin := clientcmdapi.NewAuthInfo()
	admin.Token = creds.adminToken
	cfg.AuthInfos["kq-admin"] = admin
	limited := clientcmdapi.NewAuthInfo()
	limited.Token = creds.limitedToken
	cfg.AuthInfos["kq-limited"] = limited
	cert := clientcmdapi.NewAuthInfo()
	cert.ClientCertificateData = p.adminCertPEM
	cert.ClientKeyData = p.adminKeyPEM
	cfg.AuthInfos["kq-cert-admin"] = cert

	context := func(user, namespace string) *clientcmdapi.Context {
		c := clientcmdapi.NewContext()
		c.Cluster = "real"
		c.AuthInfo = user
		c.Namespace = namespace
		return c
	}
	cfg.Contexts["real-admin"] = context("kq-admin", "")
	cfg.Contexts["real-limited"] = context("kq-limited", "team-a")
	cfg.Contexts["real-admin-cert"] = context("kq-cert-admin", "")
	cfg.CurrentContext = "real-admin"
	return cfg
}

// writeAtomically writes data to path through a temp file in the same
// directory and a rename, so a reader never sees a partial file.
func writeAtomically(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

func writeKubeconfig(path string, cfg *clientcmdapi.Config) error {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return writeAtomically(path, data)
}
