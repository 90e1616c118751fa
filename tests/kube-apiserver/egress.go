package main

// The egress guard: kube-apiserver's "cluster" network (aggregated API
// servers, webhooks, kubelets) is routed here over HTTP CONNECT, and only
// loopback targets are let through. Fixture Services, Endpoints and Nodes
// carry addresses of a simulated cluster (10.x, 172.x); the server must
// never dial those from this machine.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

type egressGuard struct {
	ln net.Listener
	wg sync.WaitGroup
}

func startEgressGuard(socket string) (*egressGuard, error) {
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, err
	}
	g := &egressGuard{ln: ln}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go g.serve(conn)
		}
	}()
	return g, nil
}

func loopbackTarget(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (g *egressGuard) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	if req.Method != http.MethodConnect || !loopbackTarget(req.Host) {
		klog.InfoS("kq-apiserver egress guard refused a connection off loopback", "method", req.Method, "target", req.Host)
		fmt.Fprintf(conn, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		return
	}
	upstream, err := net.DialTimeout("tcp", req.Host, 10*time.Second)
	if err != nil {
		fmt.Fprintf(conn, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer upstream.Close()
	fmt.Fprintf(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, upstream); done <- struct{}{} }()
	<-done
}

func (g *egressGuard) close() {
	g.ln.Close()
	g.wg.Wait()
}
