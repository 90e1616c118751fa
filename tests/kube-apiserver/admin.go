package main

// The admin endpoint: plain HTTP on loopback, for tests to drive etcd.
//
//	POST /compact   moves etcd's revision on (two writes of a marker key
//	                outside /registry), compacts etcd to it (physically,
//	                before answering) and answers that revision: every
//	                resourceVersion a client saw before is compacted
//	GET  /revision  answers etcd's current revision

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

type adminServer struct {
	ln     net.Listener
	server *http.Server
}

func startAdmin(etcd *etcdServer) (*adminServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /compact", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		rev, err := etcd.compact(ctx)
		if err != nil {
			http.Error(w, "compact: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%d\n", rev)
	})
	mux.HandleFunc("GET /revision", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%d\n", etcd.revision())
	})
	a := &adminServer{ln: ln, server: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = a.server.Serve(ln) }()
	return a, nil
}

func (a *adminServer) addr() string { return a.ln.Addr().String() }

func (a *adminServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.server.Shutdown(ctx)
}
