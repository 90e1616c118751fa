package main

// The harness's PKI: every key and certificate is made fresh for each run
// and lives only in the data dir.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// keyPair is a certificate with its private key.
type keyPair struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

// pki holds the file paths of everything kube-apiserver reads, and the PEM
// the kubeconfig embeds.
type pki struct {
	servingCAPEM []byte // certificate-authority-data of the kubeconfig

	servingCertFile, servingKeyFile string
	clientCAFile                    string
	adminCertPEM, adminKeyPEM       []byte // CN=kq-cert-admin, O=system:masters
	frontProxyCAFile                string
	proxyClientCertFile             string
	proxyClientKeyFile              string
	serviceAccountKeyFile           string
}

const frontProxyClientName = "front-proxy-client"

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

// encodeKey is SEC 1 PEM ("EC PRIVATE KEY"), which every reader in
// kube-apiserver accepts (--service-account-key-file takes no PKCS #8).
func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// sign makes a certificate for template's subject, signed by parent (or
// self-signed when parent is nil).
func sign(template *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	template.SerialNumber = sn
	template.NotBefore = now.Add(-time.Hour)
	template.NotAfter = now.Add(10 * 365 * 24 * time.Hour)
	template.BasicConstraintsValid = true
	issuer, signer := template, crypto.Signer(key)
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, issuer, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  keyPEM,
	}, nil
}

func newCA(name string) (*keyPair, error) {
	return sign(&x509.Certificate{
		Subject:  pkix.Name{CommonName: name},
		IsCA:     true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}, nil)
}

func newClientCert(ca *keyPair, cn string, orgs []string) (*keyPair, error) {
	return sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: orgs},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca)
}

// writePKI generates the CAs, certificates and keys into dir/pki.
// serviceIP is the first address of the service range (the
// kubernetes.default service), which the serving certificate names.
func writePKI(dir string, serviceIP net.IP) (*pki, error) {
	pkiDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return nil, err
	}
	write := func(name string, data []byte) (string, error) {
		path := filepath.Join(pkiDir, name)
		return path, os.WriteFile(path, data, 0o600)
	}
	p := &pki{}

	servingCA, err := newCA("kq-apiserver-serving-ca")
	if err != nil {
		return nil, err
	}
	serving, err := sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
		},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), serviceIP},
	}, servingCA)
	if err != nil {
		return nil, err
	}
	p.servingCAPEM = servingCA.certPEM
	// The serving file carries the chain, so clients that trust the CA
	// verify it.
	if p.servingCertFile, err = write("serving.crt", append(append([]byte{}, serving.certPEM...), servingCA.certPEM...)); err != nil {
		return nil, err
	}
	if p.servingKeyFile, err = write("serving.key", serving.keyPEM); err != nil {
		return nil, err
	}

	clientCA, err := newCA("kq-apiserver-client-ca")
	if err != nil {
		return nil, err
	}
	if p.clientCAFile, err = write("client-ca.crt", clientCA.certPEM); err != nil {
		return nil, err
	}
	admin, err := newClientCert(clientCA, "kq-cert-admin", []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	p.adminCertPEM, p.adminKeyPEM = admin.certPEM, admin.keyPEM

	frontProxyCA, err := newCA("kq-apiserver-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	if p.frontProxyCAFile, err = write("front-proxy-ca.crt", frontProxyCA.certPEM); err != nil {
		return nil, err
	}
	proxyClient, err := newClientCert(frontProxyCA, frontProxyClientName, nil)
	if err != nil {
		return nil, err
	}
	if p.proxyClientCertFile, err = write("front-proxy-client.crt", proxyClient.certPEM); err != nil {
		return nil, err
	}
	if p.proxyClientKeyFile, err = write("front-proxy-client.key", proxyClient.keyPEM); err != nil {
		return nil, err
	}

	saKey, err := newKey()
	if err != nil {
		return nil, err
	}
	saPEM, err := encodeKey(saKey)
	if err != nil {
		return nil, err
	}
	if p.serviceAccountKeyFile, err = write("service-account.key", saPEM); err != nil {
		return nil, err
	}
	return p, nil
}

// randomToken is a bearer token of 32 random bytes, hex-encoded.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", b), nil
}
