package main

// Embedded etcd: one member on loopback, ephemeral ports, its log in the
// harness's log file.

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/server/v3/embed"
)

type etcdServer struct {
	etcd *embed.Etcd
	// clientURL is the address kube-apiserver's --etcd-servers names.
	clientURL string
}

// startEtcd starts etcd with its data in dir/etcd. Port 0 makes the
// kernel choose the client and peer ports, so two harnesses never race
// for one.
func startEtcd(dir, logFile string) (*etcdServer, error) {
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg := embed.NewConfig()
	cfg.Name = "kq"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.ListenClientUrls = []url.URL{loopback}
	cfg.AdvertiseClientUrls = []url.URL{loopback}
	cfg.ListenPeerUrls = []url.URL{loopback}
	cfg.AdvertisePeerUrls = []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{logFile}
	// A test server: no fsync (much faster bulk loads), a quota large
	// enough for 100 000-pod fixtures with their status writes.
	cfg.UnsafeNoFsync = true
	cfg.QuotaBackendBytes = 8 << 30
	cfg.MaxRequestBytes = 16 << 20

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("not ready after 60s")
	}
	return &etcdServer{
		etcd:      e,
		clientURL: "http://" + e.Clients[0].Addr().String(),
	}, nil
}

// revision is etcd's current revision.
func (s *etcdServer) revision() int64 {
	return s.etcd.Server.KV().Rev()
}

// compactMarker is the key compact writes first; it is outside
// kube-apiserver's /registry prefix, so no watcher sees it.
const compactMarker = "/kq-apiserver/compact-marker"

// compactRevKey is where kube-apiserver's compactor records the last
// compacted revision (k8s.io/apiserver/pkg/storage/etcd3/compact.go).
const compactRevKey = "compact_rev_key"

// compact writes compactMarker twice, so the revision moves at least two
// past every resourceVersion a client has seen, then compacts etcd to the
// new revision and waits until the compaction is physically applied. It
// returns the compacted revision R: a list at, a continue token from, or a
// watch from any resourceVersion seen before the call (at most R-2) is
// then answered from etcd with 410 Gone. (Two writes: a watch from X
// starts at X+1, which must be below R.)
func (s *etcdServer) compact(ctx context.Context) (int64, error) {
	var put *pb.PutResponse
	for range 2 {
		var err error
		put, err = s.etcd.Server.Put(ctx, &pb.PutRequest{Key: []byte(compactMarker), Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))})
		if err != nil {
			return 0, err
		}
	}
	rev := put.Header.Revision
	if _, err := s.etcd.Server.Compact(ctx, &pb.CompactionRequest{Revision: rev, Physical: true}); err != nil {
		return 0, err
	}
	// Publish it as kube-apiserver's own compactor does: its watch on
	// this key updates the compacted revision the watch cache drops
	// snapshots below.
	if _, err := s.etcd.Server.Put(ctx, &pb.PutRequest{Key: []byte(compactRevKey), Value: []byte(strconv.FormatInt(rev, 10))}); err != nil {
		return 0, err
	}
	return rev, nil
}

func (s *etcdServer) close() {
	s.etcd.Close()
}
