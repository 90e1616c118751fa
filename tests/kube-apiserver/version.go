package main

// The server's /version: upstream builds stamp it with -ldflags; `go build`
// here cannot, so the harness stamps the version of k8s.io/kubernetes it
// was built from (go.mod's pin) at start-up.

import (
	"runtime/debug"
	_ "unsafe" // go:linkname

	"k8s.io/component-base/version"
)

//go:linkname gitVersion k8s.io/component-base/version.gitVersion
var gitVersion string

//go:linkname gitTreeState k8s.io/component-base/version.gitTreeState
var gitTreeState string

// stampVersion makes /version answer gitVersion vX.Y.Z of the pinned
// k8s.io/kubernetes instead of v0.0.0-master.
func stampVersion() {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	for _, dep := range info.Deps {
		if dep.Path == "k8s.io/kubernetes" {
			gitVersion = dep.Version
			gitTreeState = "clean"
			_ = version.SetDynamicVersion(dep.Version)
			return
		}
	}
}
